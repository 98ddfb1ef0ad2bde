/**
 * Reading the PEM files the scripts are given: the server's certificate and
 * key, the client's certificate authorities.
 *
 * @module
 */

import { MissingPermission, opError } from "../_errors.ts";

/**
 * Reads a PEM file. Rejects with a `MissingPermission` when the process may
 * not read it, and otherwise with a one-line error that names the file:
 * `Cannot read the certificate "cert.pem": no such file`.
 *
 * @param path The file.
 * @param what What it holds, for the error: `certificate`, `key`, `CA file`.
 */
export async function readPem(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new MissingPermission("read", path, { cause: error });
    }
    const detail = error instanceof Deno.errors.NotFound ? "no such file" : String(error);
    throw opError(`Cannot read the ${what}`, path, error, detail);
  }
}
