"""The dashboard: an app shell and static ES modules, served by the service itself."""
