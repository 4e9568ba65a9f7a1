-- Migration 001: initial_schema (rollback): everything, in reverse order.

DROP VIEW v_user;
DROP TABLE tb_post;
DROP TABLE tb_user;
