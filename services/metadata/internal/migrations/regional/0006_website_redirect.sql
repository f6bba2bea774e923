-- x-amz-website-redirect-location of each object version, as written.
ALTER TABLE object_versions ADD COLUMN website_redirect_location text NOT NULL DEFAULT '';
