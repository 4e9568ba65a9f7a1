-- confiture:no-transaction

DROP INDEX CONCURRENTLY IF EXISTS idx_tb_comment_fk_post;
