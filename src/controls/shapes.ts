/**
 * A control as a reader sees it, defined once: ControlDetail is inferred from this schema and the
 * API's response schema generated from it (server/response-schemas.ts). Imported as a type only.
 */
import { z } from 'zod';

const timestamp = () => z.string().meta({ format: 'date-time' });
const named = z.object({ id: z.string(), name: z.string().nullable() });

/** `GET /api/v2/controls/{id}` (controls/detail.ts). */
export const controlDetailSchema = z.object({
  control_id: z.string(),
  as_of: timestamp().meta({ description: 'the moment described (now unless as_of was given)' }),
  attributes: z.record(z.string(), z.unknown()).meta({ description: 'the version current at as_of: title, description, family_id, status, key_control, ... (the columns of src_controls_ver_control)' }),
  owning_function: named.nullable(),
  owning_location: named.nullable(),
  related_functions: z.array(named).readonly(),
  related_locations: z.array(named).readonly(),
  risk_themes: z.array(z.object({ id: z.string(), name: z.string().nullable(), status: z.string().nullable() })).readonly(),
  enrichment: z
    .object({
      summary: z.string(),
      keywords: z.array(z.string()).readonly(),
      model: z.string(),
      taxonomy_mapping: z.array(z.object({ risk_theme_id: z.string(), name: z.string().nullable(), score: z.number(), rank: z.number().int() })).readonly(),
    })
    .nullable(),
  history: z
    .array(z.object({ version_id: z.number().int(), title: z.string(), status: z.string().nullable(), upload_id: z.string().nullable(), tx_from: timestamp(), tx_to: timestamp().nullable() }))
    .readonly()
    .meta({ description: 'versions, newest first (transaction time: tx_to null is the current one)' }),
});
