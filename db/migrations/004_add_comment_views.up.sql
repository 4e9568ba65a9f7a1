-- Migration 004: add_comment_views
--
-- The views the application reads comments through: each comment with its author, and
-- each post with its comment count.

CREATE VIEW v_comment AS
SELECT
    c.id,
    jsonb_build_object(
        'id', c.id::text,
        'post_id', p.id::text,
        'author', jsonb_build_object('id', u.id::text, 'name', u.name),
        'content', c.content,
        'created_at', c.created_at
    ) AS data
FROM tb_comment c
JOIN tb_user u ON u.pk_user = c.fk_user
JOIN tb_post p ON p.pk_post = c.fk_post;

CREATE VIEW v_post AS
SELECT
    p.id,
    jsonb_build_object(
        'id', p.id::text,
        'title', p.title,
        'slug', p.slug,
        'author_id', u.id::text,
        'comment_count', (SELECT count(*) FROM tb_comment c WHERE c.fk_post = p.pk_post)
    ) AS data
FROM tb_post p
JOIN tb_user u ON u.pk_user = p.fk_user;
