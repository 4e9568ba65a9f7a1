DROP VIEW v_post;
DROP VIEW v_comment;
