"""Realtime: events stored with the change that caused them, fanned out after commit."""
