//! Media capture for the gateway: fetch provider media (credentials only to the provider's host), size limits, content-addressed storage on a folder or S3.
