-- One SQL file, two engines: `vsql -f two_engines.sql` runs it on DuckDB (in memory),
-- `vsql spark://local[2] -f two_engines.sql` on a local Spark session; the rows are the same.
CREATE TABLE docs (id BIGINT PRIMARY KEY, topic TEXT, embedding VECTOR(3));
INSERT INTO docs VALUES
    (1, 'databases', '[1, 0, 0]'), (2, 'databases', '[0.9, 0.1, 0]'), (3, 'databases', '[0.8, 0, 0.2]'),
    (4, 'search', '[0.5, 0.5, 0]'), (5, 'search', '[0.4, 0.6, 0.1]'), (6, 'search', '[0.1, 0.9, 0]'),
    (7, 'ml', '[0, 0.2, 0.8]'), (8, 'ml', '[0, 0, 1]'), (9, 'ml', '[0.2, 0.1, 0.9]');
CREATE TABLE questions (qid BIGINT PRIMARY KEY, q VECTOR(3));
INSERT INTO questions VALUES (1, '[1, 0.1, 0]'), (2, '[0, 1, 0.1]'), (3, '[0.1, 0, 1]');
CREATE INDEX docs_hnsw ON docs USING hnsw (embedding vector_l2_ops);

-- the three nearest documents outside 'ml' (through the index: an HNSW shard per file on Spark)
SELECT id, topic, (embedding <-> '[0.7, 0.25, 0]')::numeric(10, 4) AS distance
FROM docs WHERE topic <> 'ml' ORDER BY embedding <-> '[0.7, 0.25, 0]' LIMIT 3;

-- each question's two nearest documents by cosine distance (a LATERAL batch)
SELECT s.qid, n.id, n.distance::numeric(10, 4) AS distance
FROM questions s CROSS JOIN LATERAL (
    SELECT id, embedding <=> s.q AS distance FROM docs ORDER BY distance LIMIT 2) n
ORDER BY s.qid, n.distance;

-- pgvector's functions and aggregates
SELECT topic, count(*) AS docs, vector_norm(avg(embedding))::numeric(10, 4) AS centroid_norm,
       max(inner_product(embedding, '[1, 1, 1]'))::numeric(10, 4) AS max_ip
FROM docs GROUP BY topic ORDER BY topic;
