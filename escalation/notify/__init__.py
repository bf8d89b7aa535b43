"""Notifications: queued in the transaction that decides them (:mod:`.outbox`), sent after
commit by the dispatcher (:mod:`.dispatcher`) through the channel senders (:mod:`.senders`)."""
