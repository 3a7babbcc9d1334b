"""gettext catalogs: <lang>/LC_MESSAGES/messages.po, compiled in memory at start (ussd_app.i18n)."""
