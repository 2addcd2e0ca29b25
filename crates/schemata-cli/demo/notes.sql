-- A small SQLite database for `schemata dev`: a notebook with tags.
CREATE TABLE notebooks (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    notebook_id INTEGER NOT NULL REFERENCES notebooks (id) ON DELETE CASCADE,
    body TEXT NOT NULL,
    pinned INTEGER NOT NULL DEFAULT 0,
    words INTEGER GENERATED ALWAYS AS (length(body) - length(replace(body, ' ', '')) + 1) VIRTUAL
);
CREATE INDEX notes_by_notebook ON notes (notebook_id);
CREATE TABLE note_tags (
    note_id INTEGER NOT NULL REFERENCES notes (id),
    tag TEXT NOT NULL,
    PRIMARY KEY (note_id, tag)
) WITHOUT ROWID;
CREATE VIEW pinned_notes AS SELECT n.id, b.title, n.body FROM notes n JOIN notebooks b ON b.id = n.notebook_id WHERE n.pinned;
INSERT INTO notebooks (id, title) VALUES (1, 'Ideas'), (2, 'Errands');
INSERT INTO notes (notebook_id, body, pinned) VALUES (1, 'cache every schema', 1), (2, 'buy milk', 0);
INSERT INTO note_tags VALUES (1, 'work'), (2, 'home');
