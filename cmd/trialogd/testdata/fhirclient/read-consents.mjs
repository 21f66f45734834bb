// Reads a patient's consents from trialogd's FHIR facade with fhir-kit-client,
// as a FHIR engineer's application would, and prints what it saw as JSON for
// cmd/trialogd/fhir_test.go to check.
//
// usage: node read-consents.mjs <FHIR base URL> <subject reference> <page size>
import { Client } from 'fhir-kit-client';

const [baseUrl, subject, pageSize] = process.argv.slice(2);
const client = new Client({ baseUrl });
const out = { pages: [], reads: [], errors: {} };

const cs = await client.capabilityStatement();
out.capability = { resourceType: cs.resourceType, fhirVersion: cs.fhirVersion, resources: cs.rest[0].resource.map((r) => r.type) };

// Search, then follow the next links to the end.
let bundle = await client.search({ resourceType: 'Consent', searchParams: { patient: subject, _count: pageSize } });
while (bundle) {
  out.pages.push({
    type: bundle.type,
    total: bundle.total,
    ids: (bundle.entry ?? []).map((e) => e.resource.id),
    statuses: (bundle.entry ?? []).map((e) => e.resource.status),
    fullUrls: (bundle.entry ?? []).map((e) => e.fullUrl),
    hasNext: (bundle.link ?? []).some((l) => l.relation === 'next'),
  });
  bundle = await client.nextPage({ bundle });
}

// Read every Consent found, by id.
for (const page of out.pages) {
  for (const id of page.ids) {
    const c = await client.read({ resourceType: 'Consent', id });
    out.reads.push({
      id: c.id,
      status: c.status,
      patient: c.patient.identifier.value,
      profile: c.meta.profile[0],
      narrative: c.text.status,
      purposes: (c.provision.provision ?? []).map((p) => p.purpose.map((k) => k.code).join('+')),
      source: c.sourceReference?.reference ?? null,
    });
  }
}

// Errors arrive as OperationOutcome resources with the HTTP status.
async function failure(name, fn) {
  try {
    await fn();
    out.errors[name] = { status: 'no error' };
  } catch (err) {
    const data = typeof err.response?.data === 'string' ? JSON.parse(err.response.data) : err.response?.data;
    out.errors[name] = { status: err.response?.status, resourceType: data?.resourceType, issue: data?.issue?.[0]?.code, diagnostics: data?.issue?.[0]?.diagnostics };
  }
}
await failure('unknown', () => client.read({ resourceType: 'Consent', id: '0'.repeat(64) }));
await failure('malformed', () => client.read({ resourceType: 'Consent', id: 'not-an-entry' }));
await failure('noPatient', () => client.search({ resourceType: 'Consent', searchParams: { status: 'active' } }));
await failure('xml', () => client.read({ resourceType: 'Consent', id: out.reads[0].id, options: { headers: { accept: 'application/fhir+xml' } } }));
await failure('create', () => client.create({ resourceType: 'Consent', body: { resourceType: 'Consent' } }));

console.log(JSON.stringify(out));
