-- confiture:no-transaction
--
-- tb_comment already holds data: build the index without locking out writes. CONCURRENTLY
-- cannot run inside a transaction, hence the marker (and one statement in the file).
-- IF NOT EXISTS: outside a transaction, the index can be built and the ledger row not yet
-- written when the process dies; the rerun then succeeds. A build interrupted halfway leaves
-- an INVALID index instead: drop it before running the migration again.

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_tb_comment_fk_post ON tb_comment (fk_post);
