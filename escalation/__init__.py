"""Escalation: rules, policies, on-call rotations, incidents and notifications.

Plugs in after triage through :class:`inbox.processing.MessageProcessor` hooks, which run
inside the processing transaction so that a message escalates exactly once.
"""
