-- Add column to table
ALTER TABLE tb_user ADD COLUMN avatar_url TEXT;

-- Recreate view to include new field
CREATE OR REPLACE VIEW v_user AS
SELECT
    u.id,
    jsonb_build_object(
        'id', u.id::text,
        'name', u.name,
        'email', u.email,
        'avatar_url', u.avatar_url  -- New field
    ) AS data
FROM tb_user u;
