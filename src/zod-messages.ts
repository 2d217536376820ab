import en from 'zod/v4/locales/en.js';

/**
 * zod/mini (what the functions use: the full zod is 450 KB of a bundle) loads no locale, so its issues
 * say only "Invalid input". Given to a parse, these are the English messages the full zod gives, so an
 * error that quotes them reads as before; no global setting changes any other schema's messages.
 */
export const ENGLISH_ISSUES = { error: en().localeError };
