"""Pure geometric functions (numpy): boxes, transforms, sampling."""
