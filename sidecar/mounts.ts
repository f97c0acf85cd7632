/**
 * What the MiniCluster (components/minicluster.build.ts) and the sidecar agree on about the files
 * mounted for it. No imports: the Pulumi program loads this file too.
 */

/** The credentials Secret's keys, which are the file names in FLUX_CREDENTIALS_DIR. */
export const CREDENTIAL_FILES = { user: "user", token: "token", secretKey: "secret-key" } as const;

/**
 * The exit status that asks the container's command to start the sidecar again (EX_TEMPFAIL): a
 * new bundle was mounted. Any other status ends the container's loop.
 */
export const RELOAD_EXIT_CODE = 75;
