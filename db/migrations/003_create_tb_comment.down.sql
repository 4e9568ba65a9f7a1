DROP TABLE tb_comment;
