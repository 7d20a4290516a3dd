"""Static files that ship with ftui: stylesheet, sample data, prompts."""
