// Convex exposes its deployment's environment variables (`npx convex env set`) as `process.env`
// in every runtime; this declares that much of `process` and no more of Node.
declare const process: { readonly env: Readonly<Record<string, string | undefined>> };
