"""Parts and runs: which parts (what one reader read in one folder) are one training job, and the run
they make. `rules` decides (pure), `merge` combines values (pure), `build` keeps the index current on the
writer thread, `ddl` holds the tables and views. `docs/joins.md` is the rule table in prose."""
