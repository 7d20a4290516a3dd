"""The Textual screens of ftui: one per area, thin, calling into the core (ftui/)."""
