"""gettext catalogs: <lang>/LC_MESSAGES/messages.po, compiled in memory at start (enerlectra.i18n)."""
