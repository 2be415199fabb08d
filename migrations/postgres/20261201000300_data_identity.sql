-- Which data each job trained on (tune's data identity): SHA-256 over the SHA-256 digests of the
-- data set's four decompressed files, and whether they were the canonical files of the named data
-- set (FALSE: trained with --allow-unverified). NULL: not trained yet, or by an older tune.
ALTER TABLE jobs ADD COLUMN data_sha256 TEXT;
ALTER TABLE jobs ADD COLUMN data_verified BOOLEAN;
