-- 014: a download's byte ranges (Job::add_file_with_ranges, BITS's
-- AddFileWithRanges), as one TEXT column "OFFSET:LENGTH,..." ("eof" for
-- BG_LENGTH_TO_EOF), NULL for a whole file. A column rather than a table: the
-- ranges are written once with the file, never changed, always read with the
-- file row (at most 500, ~20 KiB), so a join or a second query per file buys
-- nothing.
ALTER TABLE files ADD COLUMN ranges TEXT;
