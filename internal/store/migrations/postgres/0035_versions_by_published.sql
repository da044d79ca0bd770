-- The home page lists the packages published last: newest versions first,
-- read from this index without scanning every version.
CREATE INDEX versions_by_published ON versions (published_at, package_id);
