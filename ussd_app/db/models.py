"""SQLAlchemy 2 models. Relationships, when they come, use lazy="raise": no hidden I/O."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, MetaData, String, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    msisdn: Mapped[str] = mapped_column(String(16), unique=True)          # E.164, +260971234567
    country: Mapped[str] = mapped_column(String(2))                       # ZM / TZ
    currency: Mapped[str] = mapped_column(String(3))                      # ZMW / TZS
    language: Mapped[str] = mapped_column(String(3))                      # en / bem / nya / sw
    name: Mapped[str] = mapped_column(String(40))
    pin_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now())


class UssdSessionEvent(Base):
    """Africa's Talking end-of-session notification, kept for analytics (one row per session)."""

    __tablename__ = "ussd_session_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(String(128), unique=True)
    msisdn: Mapped[str] = mapped_column(String(20))
    service_code: Mapped[str] = mapped_column(String(40), default="")
    network_code: Mapped[str] = mapped_column(String(10), default="")
    status: Mapped[str] = mapped_column(String(20))                       # Success / Incomplete / Failed
    cost_currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    cost_amount: Mapped[str | None] = mapped_column(String(20), nullable=True)  # decimal text, as sent
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hops: Mapped[int | None] = mapped_column(Integer, nullable=True)
    input: Mapped[str] = mapped_column(Text, default="")
    last_response: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
