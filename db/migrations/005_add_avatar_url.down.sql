-- Recreate view without new field
CREATE OR REPLACE VIEW v_user AS
SELECT
    u.id,
    jsonb_build_object(
        'id', u.id::text,
        'name', u.name,
        'email', u.email
    ) AS data
FROM tb_user u;

-- Drop column
ALTER TABLE tb_user DROP COLUMN avatar_url;
