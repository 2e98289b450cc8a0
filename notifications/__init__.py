"""Emails and SMS to members: templates per event, an outbound message log, delivery by Celery with retries.

    from notifications.services import notify_member, message_queue

See notifications/services.py for the API and notifications/events.py for the events and their context.
"""
