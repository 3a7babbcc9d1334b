"""What a USSD feature is made of (sessions, screens, states) and the screen budget: the engine in
ussd_app runs them, the features in menus are written in them."""
