/**
 * Word lists for generated data: risk categories with their sub-themes and the things their
 * controls act on, organization vocabulary, and the parts control descriptions are built from.
 * Items never contain ';' (the CSV list separator).
 */

export interface Category {
  readonly code: string;
  readonly name: string;
  readonly subThemes: readonly string[];
  /** Things a control of this category acts on, as noun phrases. */
  readonly objects: readonly string[];
}

export const CATEGORIES: readonly Category[] = [
  { code: 'CYB', name: 'Information and Cyber Security',
    subThemes: ['Identity and Access Management', 'Vulnerability and Patch Management', 'Security Monitoring', 'Data Loss Prevention', 'Cryptography and Key Management'],
    objects: ['privileged access', 'firewall rule changes', 'endpoint protection status', 'critical security patches', 'encryption keys', 'user access rights', 'multi-factor authentication coverage', 'security event logs', 'vulnerability scan results', 'service account credentials'] },
  { code: 'RES', name: 'Operational Resilience',
    subThemes: ['Business Continuity', 'IT Disaster Recovery', 'Capacity Management', 'Important Business Services'],
    objects: ['recovery time objectives', 'backup restoration tests', 'failover procedures', 'business continuity plans', 'impact tolerances', 'capacity forecasts', 'crisis contact lists', 'alternate site readiness'] },
  { code: 'TPR', name: 'Third-Party and Outsourcing',
    subThemes: ['Supplier Onboarding', 'Outsourcing Oversight', 'Intragroup Arrangements', 'Supplier Exit'],
    objects: ['supplier due diligence', 'outsourcing contracts', 'service level reports', 'fourth-party dependencies', 'supplier risk ratings', 'exit plans', 'right-to-audit clauses', 'vendor performance scorecards'] },
  { code: 'DAT', name: 'Data Management',
    subThemes: ['Data Quality', 'Data Retention and Disposal', 'Data Lineage', 'Reference Data'],
    objects: ['critical data elements', 'data quality exceptions', 'retention schedules', 'reference data changes', 'data lineage documentation', 'golden source feeds', 'record disposal logs', 'data ownership registers'] },
  { code: 'PRV', name: 'Privacy',
    subThemes: ['Personal Data Processing', 'Data Subject Rights', 'Cross-Border Transfers'],
    objects: ['records of processing activities', 'data subject access requests', 'privacy impact assessments', 'consent records', 'international transfer agreements', 'personal data breaches'] },
  { code: 'FCR', name: 'Financial Crime',
    subThemes: ['Anti-Money Laundering', 'Sanctions Screening', 'Anti-Bribery and Corruption', 'Know Your Customer'],
    objects: ['customer due diligence files', 'sanctions screening alerts', 'transaction monitoring alerts', 'politically exposed persons', 'gifts and hospitality registers', 'suspicious activity reports', 'beneficial ownership records', 'high-risk customer reviews'] },
  { code: 'FRD', name: 'Fraud',
    subThemes: ['Internal Fraud', 'External Fraud', 'Payment Fraud'],
    objects: ['payment instructions', 'beneficiary changes', 'expense claims', 'card transaction alerts', 'manual journal entries', 'account takeover indicators'] },
  { code: 'CND', name: 'Conduct',
    subThemes: ['Product Governance', 'Fair Customer Treatment', 'Market Conduct', 'Complaints Handling'],
    objects: ['customer complaints', 'product approvals', 'sales incentive schemes', 'trade surveillance alerts', 'vulnerable customer flags', 'financial promotions', 'conflicts of interest registers'] },
  { code: 'REG', name: 'Regulatory Compliance',
    subThemes: ['Regulatory Reporting', 'Regulatory Change', 'Licensing and Permissions'],
    objects: ['regulatory returns', 'regulatory change assessments', 'licence conditions', 'breach registers', 'regulatory correspondence', 'attestation submissions'] },
  { code: 'FRP', name: 'Financial Reporting',
    subThemes: ['General Ledger Integrity', 'Reconciliations', 'Period-End Close'],
    objects: ['general ledger reconciliations', 'suspense account balances', 'nostro breaks', 'month-end accruals', 'intercompany balances', 'journal approvals', 'fixed asset registers'] },
  { code: 'PPL', name: 'People',
    subThemes: ['Employee Screening', 'Joiners, Movers and Leavers', 'Mandatory Training', 'Health and Safety'],
    objects: ['pre-employment screening', 'leaver access removal', 'mandatory training completion', 'segregation of duties conflicts', 'health and safety inspections', 'contractor onboarding'] },
  { code: 'TCH', name: 'Technology Change',
    subThemes: ['Change Management', 'Software Development', 'Technology Asset Management', 'End-User Computing'],
    objects: ['production changes', 'emergency changes', 'code reviews', 'release approvals', 'software licences', 'end-user computing tools', 'configuration baselines', 'asset inventory records'] },
  { code: 'MDL', name: 'Model Risk',
    subThemes: ['Model Validation', 'Model Inventory', 'Model Monitoring'],
    objects: ['model validations', 'model inventory entries', 'model performance metrics', 'model overrides', 'model change requests'] },
  { code: 'PHY', name: 'Physical Security',
    subThemes: ['Premises Access', 'Environmental Controls', 'Asset Protection'],
    objects: ['building access badges', 'visitor logs', 'CCTV recordings', 'data centre access lists', 'fire suppression tests', 'secure storage rooms'] },
  { code: 'LEG', name: 'Legal',
    subThemes: ['Contract Management', 'Litigation', 'Intellectual Property'],
    objects: ['contract templates', 'litigation holds', 'legal entity registers', 'power of attorney records', 'intellectual property registrations'] },
];

/** Aspects that split a sub-theme into third-level themes. */
export const ASPECTS = ['Governance and Oversight', 'Process Execution', 'Monitoring and Reporting', 'Systems and Tooling', 'Third-Party Dependencies', 'Data Quality', 'Regulatory Obligations', 'Key Person Dependency'];

export const DIVISIONS = [
  'Technology', 'Operations', 'Risk Management', 'Compliance', 'Finance', 'Human Resources', 'Legal', 'Corporate and Investment Banking',
  'Retail Banking', 'Wealth Management', 'Global Markets', 'Treasury', 'Group Internal Audit', 'Corporate Real Estate',
];

export const DOMAINS = [
  'Payments', 'Lending', 'Trade Finance', 'Custody', 'Client Onboarding', 'Cash Management', 'Data Management', 'Cyber Defence', 'Cloud Platforms',
  'Card Services', 'Mortgages', 'Collateral Management', 'Securities Services', 'Fixed Income', 'Equities', 'Foreign Exchange', 'Liquidity Management',
  'Regulatory Reporting', 'Financial Control', 'Tax', 'Procurement', 'Vendor Management', 'Identity Services', 'Network Services', 'End-User Services',
  'Application Development', 'Testing Services', 'Financial Crime Operations', 'Sanctions', 'Surveillance', 'Complaints', 'Branch Network',
  'Contact Centres', 'Digital Channels', 'Credit Risk', 'Market Risk', 'Operational Risk', 'Model Validation', 'Learning', 'Payroll', 'Facilities',
  'Business Continuity', 'Records Management', 'Product Control', 'Client Reporting', 'Investment Operations', 'Fund Administration', 'Corporate Actions',
];

export const UNIT_TYPES = ['Operations', 'Control', 'Governance', 'Engineering', 'Analytics', 'Reporting', 'Support', 'Assurance', 'Services', 'Oversight'];
export const TEAM_QUALIFIERS = ['EMEA', 'Americas', 'APAC', 'Global', 'Onshore', 'Offshore', 'Hub', 'Level 1', 'Level 2', 'Central'];

export const OWNER_ROLES = ['Head of', 'Control Owner,', 'Director,', 'Operations Manager,', 'Team Lead,', 'Process Owner,'];

/** An activity as a noun (title) and a verb (description, third person). */
export const ACTIVITIES: readonly (readonly [noun: string, verb: string])[] = [
  ['review', 'reviews'], ['reconciliation', 'reconciles'], ['approval', 'approves'], ['monitoring', 'monitors'], ['validation', 'validates'],
  ['testing', 'tests'], ['attestation', 'attests to'], ['inspection', 'inspects'], ['verification', 'verifies'], ['recertification', 'recertifies'],
  ['sign-off', 'signs off'], ['restriction', 'restricts'], ['screening', 'screens'], ['escalation', 'escalates'], ['sampling', 'samples'],
];

export const FREQUENCY_WORDS = {
  continuous: ['Continuous', 'continuously'],
  daily: ['Daily', 'every business day'],
  weekly: ['Weekly', 'every week'],
  monthly: ['Monthly', 'each month'],
  quarterly: ['Quarterly', 'every quarter'],
  'semi-annual': ['Semi-annual', 'twice a year'],
  annual: ['Annual', 'once a year'],
  'ad-hoc': ['Ad hoc', 'when requested'],
  'event-driven': ['Event-driven', 'whenever a triggering event occurs'],
} as const;

export const OBJECTIVES = [
  'only authorised changes reach production', 'balances agree to the general ledger', 'access remains appropriate to each job role',
  'breaches are identified and reported on time', 'exceptions are investigated and closed', 'records are complete, accurate and retained',
  'customers are treated fairly', 'obligations are met before their deadline', 'losses stay within the agreed risk appetite',
  'critical services can be recovered within tolerance', 'suppliers meet their contractual service levels', 'data used in reporting is complete and accurate',
  'sanctioned parties are not onboarded or paid', 'segregation of duties is maintained', 'issues are owned and remediated',
];

export const SYSTEMS = [
  'ServiceNow', 'SailPoint IdentityIQ', 'the GRC platform', 'SAP S/4HANA', 'Murex', 'Splunk', 'RSA Archer', 'the general ledger', 'the enterprise data warehouse',
  'the control library', 'Workday', 'SAP Ariba', 'Actimize', 'Pega', 'Calypso', 'Jira', 'Confluence', 'the document management system',
];

export const ESCALATIONS = [
  'the Head of Operational Risk', 'the Chief Information Security Officer', 'the Divisional Risk Committee', 'Compliance', 'the Chief Operating Officer',
  'the Data Protection Officer', 'the Money Laundering Reporting Officer', 'the Chief Financial Officer', 'the Operational Resilience Forum',
];

export const CONDITIONS = [
  'the control owner is absent', 'volumes exceed the agreed threshold', 'a system outage prevents automated execution', 'a new legal entity is onboarded',
  'a regulatory change is announced', 'a material incident has occurred', 'the population includes manual adjustments', 'a supplier changes its sub-contractors',
];

export const THRESHOLDS = ['EUR 10,000', 'USD 1,000,000', 'GBP 250,000', '5% of the monthly volume', 'USD 50,000', 'EUR 2,500,000'];

export const DOCUMENTS = ['Access Management Standard', 'Change Management Procedure', 'Reconciliation Policy', 'Third-Party Risk Standard', 'Records Retention Schedule', 'Incident Management Playbook', 'Financial Crime Manual', 'Desk Procedures'];

export const STEPS = [
  'extract the population from the system of record', 'compare the population with the approved baseline', 'investigate each difference with the process owner',
  'record the outcome and the evidence', 'raise an issue for any unresolved item', 'obtain sign-off from the reviewer', 'retain the evidence pack',
  'confirm completeness of the population', 'select a sample using the sampling guide', 'notify the control owner of exceptions',
];

export const REGULATIONS = [
  'SOX 404', 'GDPR Art. 32', 'GDPR Art. 30', 'DORA Art. 9', 'DORA Art. 11', 'PCI DSS 4.0 Req. 8', 'ISO/IEC 27001:2022 A.8.2', 'BCBS 239 Principle 3',
  'NIST CSF 2.0 PR.AA', 'EBA/GL/2019/04', 'EBA/GL/2019/02', 'FCA SYSC 8', 'FCA SYSC 15A', 'MAS TRM 9.1', 'FATF Recommendation 10', 'UK Bribery Act s.7',
  'MiFID II Art. 16', 'Basel Committee Principles for Operational Resilience', 'APRA CPS 230', 'OCC Heightened Standards',
];
