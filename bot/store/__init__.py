"""The conversation store: SQLAlchemy 2.0 models, repositories and the unit of work."""

from bot.store.models import Alert, Base, Contact, Message, ModelCallRow, SafetyEvent
from bot.store.uow import SqlUnitOfWork, make_engine, session_factory

__all__ = [
    "Alert",
    "Base",
    "Contact",
    "Message",
    "ModelCallRow",
    "SafetyEvent",
    "SqlUnitOfWork",
    "make_engine",
    "session_factory",
]
