"""The generic BPM core: storage, the clock, deployed definitions, the script sandbox, the engine
commands and their history, timers, users and groups. It knows no business rule and imports no
other engine package; the packages above plug into it through the hooks `engine.wiring` fills."""
