/**
 * What the NIST sample adds to the 800-53 catalog: a function tree of the firm that owns the
 * controls, and per family its risk theme text, its classic NIST class (technical, operational,
 * management), the functions and roles that own it, and related references.
 */
import type { TreeNode } from './context.js';

const fn = (id: string, name: string, type: string, children: TreeNode[] = []): TreeNode => ({ id, name, type, children });

/** Group → divisions → departments → teams: five levels, as in a real organization chart. */
export function nistFunctionTree(): TreeNode {
  return fn('FN-GRP', 'Group', 'Group', [
    fn('FN-TECH', 'Technology', 'Division', [
      fn('FN-ISEC', 'Information Security', 'Department', [
        fn('FN-SOC', 'Security Operations', 'Team', [fn('FN-SOC-DR', 'Detection and Response', 'Sub-team'), fn('FN-SOC-VM', 'Vulnerability Management', 'Sub-team')]),
        fn('FN-IAM', 'Identity and Access Management', 'Team', [fn('FN-IAM-PAM', 'Privileged Access Management', 'Sub-team')]),
        fn('FN-SAE', 'Security Architecture and Engineering', 'Team', [fn('FN-SAE-CRY', 'Cryptography Services', 'Sub-team')]),
        fn('FN-SAW', 'Security Awareness', 'Team'),
      ]),
      fn('FN-ITOPS', 'IT Operations', 'Department', [
        fn('FN-INFRA', 'Infrastructure and Hosting', 'Team', [fn('FN-INFRA-NET', 'Network Services', 'Sub-team'), fn('FN-INFRA-DC', 'Data Centre Operations', 'Sub-team')]),
        fn('FN-ITSM', 'IT Service Management', 'Team', [fn('FN-ITSM-CHG', 'Change and Configuration Management', 'Sub-team')]),
        fn('FN-DR', 'Technology Resilience', 'Team'),
      ]),
      fn('FN-ENG', 'Software Engineering', 'Department', [fn('FN-SDLC', 'Secure Development', 'Team'), fn('FN-PLAT', 'Platform Engineering', 'Team')]),
    ]),
    fn('FN-RISK', 'Risk and Compliance', 'Division', [
      fn('FN-ORM', 'Operational Risk', 'Department', [fn('FN-TRM', 'Technology Risk', 'Team'), fn('FN-BCM', 'Business Continuity Management', 'Team')]),
      fn('FN-COMP', 'Compliance', 'Department', [fn('FN-REGC', 'Regulatory Compliance', 'Team'), fn('FN-DPO', 'Data Protection Office', 'Team')]),
      fn('FN-IAUD', 'Internal Audit', 'Department'),
    ]),
    fn('FN-OPS', 'Operations', 'Division', [
      fn('FN-PROC', 'Procurement', 'Department', [fn('FN-TPRM', 'Third-Party Risk Management', 'Team')]),
      fn('FN-CRE', 'Corporate Real Estate', 'Department', [fn('FN-PHYS', 'Physical Security', 'Team'), fn('FN-FAC', 'Facilities Management', 'Team')]),
    ]),
    fn('FN-HR', 'Human Resources', 'Division', [fn('FN-HR-LRN', 'Learning and Development', 'Department'), fn('FN-HR-EMP', 'Employee Relations and Screening', 'Department')]),
    fn('FN-LEGAL', 'Legal', 'Division'),
  ]);
}

export type NistClass = 'RT-TECH' | 'RT-OPER' | 'RT-MGMT';

/** Parent themes: the technical / operational / management classes of earlier 800-53 revisions. */
export const NIST_CLASSES: readonly { id: NistClass; name: string; description: string; considerations: string }[] = [
  {
    id: 'RT-TECH',
    name: 'Technical Controls',
    description: 'Risks addressed mainly by safeguards that information systems implement and execute: access enforcement, authentication, audit logging and communications protection.',
    considerations: 'A grouping of the AC, AU, IA and SC families. Map a control to the family theme beneath it rather than to this grouping.',
  },
  {
    id: 'RT-OPER',
    name: 'Operational Controls',
    description: 'Risks addressed mainly by safeguards that people implement and execute: awareness, configuration, contingency, incident response, maintenance, media, physical and personnel security, and system integrity.',
    considerations: 'A grouping of the AT, CM, CP, IR, MA, MP, PE, PS and SI families. Map a control to the family theme beneath it rather than to this grouping.',
  },
  {
    id: 'RT-MGMT',
    name: 'Management Controls',
    description: 'Risks addressed by managing security and privacy risk itself: planning, risk assessment, assessment and authorisation, acquisition, and supply chain risk management.',
    considerations: 'A grouping of the CA, PL, RA, SA and SR families. Map a control to the family theme beneath it rather than to this grouping.',
  },
];

export interface NistFamily {
  readonly id: string;
  readonly class: NistClass;
  readonly description: string;
  readonly considerations: string;
  /** The function that owns most of the family's controls, then alternates that own some. */
  readonly functions: readonly [string, ...string[]];
  readonly iso27001: readonly [string, ...string[]];
  /** An IT general control family: its key controls are SOX-relevant. */
  readonly sox: boolean;
  /** Share of the family's controls that protect personal data (GDPR Art. 32). */
  readonly gdpr: number;
}

export const NIST_FAMILIES: Readonly<Record<string, NistFamily>> = {
  AC: {
    id: 'AC', class: 'RT-TECH',
    description: 'The risk that users, processes or devices reach systems and information beyond what their role requires, through weak account management, excessive privileges or rules that are not enforced.',
    considerations: 'Map controls that grant, review, restrict or revoke logical access, including least privilege, separation of duties, remote and wireless access. Proving who a user is belongs to Identification and Authentication.',
    functions: ['FN-IAM', 'FN-IAM-PAM', 'FN-SAE'],
    iso27001: ['A.5.15', 'A.5.18', 'A.8.2', 'A.8.3'], sox: true, gdpr: 0.4,
  },
  AT: {
    id: 'AT', class: 'RT-OPER',
    description: 'The risk that staff cause, or fail to recognise, security and privacy incidents because they lack the awareness and role-based training their duties require.',
    considerations: 'Map controls that deliver, record or test security and privacy awareness and role-based training, including phishing and insider-threat exercises. Training for contingency or incident roles maps to those themes when the plan is the subject.',
    functions: ['FN-SAW', 'FN-HR-LRN'],
    iso27001: ['A.6.3'], sox: false, gdpr: 0.3,
  },
  AU: {
    id: 'AU', class: 'RT-TECH',
    description: 'The risk that security-relevant events are not recorded, protected, reviewed or retained, so misuse goes unnoticed and cannot be investigated or attributed.',
    considerations: 'Map controls on event logging, audit record content and storage, time stamps, protection of logs, review, correlation and non-repudiation. Real-time threat alerting maps to System and Information Integrity.',
    functions: ['FN-SOC-DR', 'FN-SOC', 'FN-INFRA'],
    iso27001: ['A.8.15', 'A.8.16', 'A.8.17'], sox: true, gdpr: 0.3,
  },
  CA: {
    id: 'CA', class: 'RT-MGMT',
    description: 'The risk that systems run with control weaknesses that nobody knows about or fixes, because controls are not independently assessed, authorised or continuously monitored.',
    considerations: 'Map controls on control assessments, plans of action and milestones, system authorisation, information exchange agreements, penetration testing and continuous monitoring programmes.',
    functions: ['FN-TRM', 'FN-IAUD', 'FN-SOC-VM'],
    iso27001: ['A.5.35', 'A.5.36'], sox: false, gdpr: 0,
  },
  CM: {
    id: 'CM', class: 'RT-OPER',
    description: 'The risk that unauthorised or untested changes, insecure baseline settings or unknown components weaken systems or cause outages.',
    considerations: 'Map controls on baseline configurations, change control, security impact analysis, least functionality, software usage restrictions and the component inventory. Patching of known flaws maps to System and Information Integrity.',
    functions: ['FN-ITSM-CHG', 'FN-ITSM', 'FN-PLAT'],
    iso27001: ['A.8.9', 'A.8.32', 'A.5.9'], sox: true, gdpr: 0,
  },
  CP: {
    id: 'CP', class: 'RT-OPER',
    description: 'The risk that critical services cannot be restored within tolerance after a disruption, because recovery plans, backups or alternate sites are missing, untested or inadequate.',
    considerations: 'Map controls on contingency plans and their testing and training, alternate storage and processing sites, telecommunications, backup and system recovery. Detecting and handling incidents maps to Incident Response.',
    functions: ['FN-DR', 'FN-BCM', 'FN-INFRA-DC'],
    iso27001: ['A.5.29', 'A.5.30', 'A.8.13', 'A.8.14'], sox: false, gdpr: 0,
  },
  IA: {
    id: 'IA', class: 'RT-TECH',
    description: 'The risk that users, devices or services are not reliably identified and authenticated, so impersonation, stolen credentials or shared accounts go undetected.',
    considerations: 'Map controls on unique identification, multi-factor authentication, authenticator and credential management, device identification and re-authentication. What an authenticated user may do maps to Access Control.',
    functions: ['FN-IAM', 'FN-IAM-PAM', 'FN-SAE-CRY'],
    iso27001: ['A.5.16', 'A.5.17', 'A.8.5'], sox: true, gdpr: 0.2,
  },
  IR: {
    id: 'IR', class: 'RT-OPER',
    description: 'The risk that security and privacy incidents are detected late, handled inconsistently or reported incompletely, increasing harm to customers, the firm and regulators\' trust.',
    considerations: 'Map controls on incident response plans, training and testing, handling, monitoring, reporting and assistance. Controls that only detect suspicious activity map to Audit and Accountability or System and Information Integrity.',
    functions: ['FN-SOC-DR', 'FN-SOC', 'FN-DPO'],
    iso27001: ['A.5.24', 'A.5.25', 'A.5.26', 'A.6.8'], sox: false, gdpr: 1,
  },
  MA: {
    id: 'MA', class: 'RT-OPER',
    description: 'The risk that maintenance of systems, especially remote or third-party maintenance, brings in malicious code, unauthorised access or uncontrolled changes.',
    considerations: 'Map controls on controlled and timely maintenance, maintenance tools, non-local maintenance sessions and the supervision of maintenance personnel.',
    functions: ['FN-INFRA', 'FN-INFRA-DC'],
    iso27001: ['A.7.13'], sox: false, gdpr: 0,
  },
  MP: {
    id: 'MP', class: 'RT-OPER',
    description: 'The risk that information on digital or paper media is lost, stolen or disclosed while it is stored, transported, reused or disposed of.',
    considerations: 'Map controls on media access, marking, storage, transport, sanitisation and restrictions on media use. Encryption of data at rest inside systems maps to System and Communications Protection.',
    functions: ['FN-INFRA-DC', 'FN-PHYS'],
    iso27001: ['A.7.10', 'A.7.14', 'A.8.10'], sox: false, gdpr: 1,
  },
  PE: {
    id: 'PE', class: 'RT-OPER',
    description: 'The risk that buildings housing people and systems are entered without authorisation or damaged by fire, water, power loss or other environmental hazards.',
    considerations: 'Map controls on physical access authorisation and enforcement, visitor records, monitoring of facilities, power, fire protection, temperature and humidity, and alternate work sites.',
    functions: ['FN-PHYS', 'FN-FAC', 'FN-INFRA-DC'],
    iso27001: ['A.7.1', 'A.7.2', 'A.7.4', 'A.7.5', 'A.7.11'], sox: false, gdpr: 0,
  },
  PL: {
    id: 'PL', class: 'RT-MGMT',
    description: 'The risk that security and privacy requirements are not defined and agreed for each system, leaving controls inconsistent with the architecture and with the rules users must follow.',
    considerations: 'Map controls on system security and privacy plans, rules of behaviour, concept of operations, security and privacy architectures, and baseline selection and tailoring.',
    functions: ['FN-SAE', 'FN-TRM'],
    iso27001: ['A.5.1', 'A.5.10'], sox: false, gdpr: 0,
  },
  PS: {
    id: 'PS', class: 'RT-OPER',
    description: 'The risk that people who are unsuitable, unscreened or no longer entitled keep access to systems and information through gaps in hiring, transfer or termination.',
    considerations: 'Map controls on position risk designation, screening, termination and transfer, access agreements, external personnel security and sanctions.',
    functions: ['FN-HR-EMP', 'FN-HR'],
    iso27001: ['A.6.1', 'A.6.2', 'A.6.4', 'A.6.5'], sox: false, gdpr: 1,
  },
  RA: {
    id: 'RA', class: 'RT-MGMT',
    description: 'The risk that threats and vulnerabilities are not identified and evaluated, so protection is not proportionate to the impact on the business.',
    considerations: 'Map controls on security categorisation, risk assessments, vulnerability monitoring and scanning, threat hunting and criticality analysis. Fixing the flaws found maps to System and Information Integrity.',
    functions: ['FN-TRM', 'FN-SOC-VM'],
    iso27001: ['A.5.7', 'A.8.8'], sox: false, gdpr: 0,
  },
  SA: {
    id: 'SA', class: 'RT-MGMT',
    description: 'The risk that systems and services are bought or built without the security requirements, secure engineering and developer testing that make them trustworthy.',
    considerations: 'Map controls on resource allocation, the development life cycle, acquisition contracts, system documentation, security engineering principles, external services, and developer configuration management and testing.',
    functions: ['FN-SDLC', 'FN-ENG', 'FN-PROC'],
    iso27001: ['A.5.8', 'A.8.25', 'A.8.27', 'A.8.29', 'A.8.30'], sox: false, gdpr: 0,
  },
  SC: {
    id: 'SC', class: 'RT-TECH',
    description: 'The risk that information is intercepted, altered or exfiltrated, or systems are attacked, because network boundaries, cryptography or separation of components are weak.',
    considerations: 'Map controls on boundary protection, confidentiality and integrity in transit, cryptographic key management, denial-of-service protection, session authenticity and protection of information at rest.',
    functions: ['FN-SAE', 'FN-INFRA-NET', 'FN-SAE-CRY'],
    iso27001: ['A.8.20', 'A.8.21', 'A.8.22', 'A.8.24'], sox: false, gdpr: 0.4,
  },
  SI: {
    id: 'SI', class: 'RT-OPER',
    description: 'The risk that software flaws, malicious code or unauthorised changes to software and information compromise systems before they are detected and corrected.',
    considerations: 'Map controls on flaw remediation, malicious code protection, system monitoring, security alerts and advisories, integrity verification, spam protection and input validation.',
    functions: ['FN-SOC', 'FN-SOC-VM', 'FN-PLAT'],
    iso27001: ['A.8.7', 'A.8.8', 'A.8.16'], sox: false, gdpr: 0.3,
  },
  SR: {
    id: 'SR', class: 'RT-MGMT',
    description: 'The risk that suppliers, products and services introduce counterfeit, tampered or vulnerable components, or fail, disrupting the systems that depend on them.',
    considerations: 'Map controls on supply chain risk management plans, supplier assessments and reviews, acquisition strategies, provenance, notification agreements, tamper resistance and component disposal.',
    functions: ['FN-TPRM', 'FN-PROC'],
    iso27001: ['A.5.19', 'A.5.20', 'A.5.21', 'A.5.22'], sox: false, gdpr: 0,
  },
};

/** Who owns a control in each function: the first role owns its policies, any may own the rest. */
export const FUNCTION_OWNERS: Readonly<Record<string, readonly [string, ...string[]]>> = {
  'FN-IAM': ['Head of Identity and Access Management', 'Access Governance Lead', 'Joiner-Mover-Leaver Process Owner'],
  'FN-IAM-PAM': ['Privileged Access Manager'],
  'FN-SAE': ['Chief Security Architect', 'Security Engineering Lead'],
  'FN-SAE-CRY': ['Cryptography Services Lead'],
  'FN-SAW': ['Security Awareness Lead'],
  'FN-HR-LRN': ['Head of Learning and Development'],
  'FN-SOC': ['Head of Security Operations', 'Endpoint Security Manager'],
  'FN-SOC-DR': ['Detection and Response Lead', 'Incident Response Manager', 'SIEM Platform Owner'],
  'FN-SOC-VM': ['Vulnerability Management Lead', 'Patch Management Lead'],
  'FN-INFRA': ['Head of Infrastructure', 'Infrastructure Operations Manager'],
  'FN-INFRA-DC': ['Data Centre Manager'],
  'FN-INFRA-NET': ['Network Security Manager'],
  'FN-ITSM': ['Head of IT Service Management'],
  'FN-ITSM-CHG': ['Change Manager', 'Configuration Manager'],
  'FN-PLAT': ['Platform Engineering Lead'],
  'FN-DR': ['Head of Technology Resilience', 'Disaster Recovery Coordinator'],
  'FN-BCM': ['Business Continuity Manager'],
  'FN-ENG': ['Head of Software Engineering'],
  'FN-SDLC': ['Head of Secure Development', 'Application Security Lead'],
  'FN-TRM': ['Head of Technology Risk', 'Control Assurance Manager'],
  'FN-IAUD': ['Head of IT Audit'],
  'FN-DPO': ['Data Protection Officer'],
  'FN-PROC': ['Technology Procurement Manager'],
  'FN-TPRM': ['Head of Third-Party Risk Management', 'Supplier Risk Manager'],
  'FN-PHYS': ['Head of Physical Security', 'Site Security Manager'],
  'FN-FAC': ['Facilities Manager'],
  'FN-HR': ['Head of Human Resources'],
  'FN-HR-EMP': ['Head of Employee Relations', 'Pre-employment Screening Manager'],
};

/** Where the controls are run from: the group's hubs, weighted by their share of the work. */
export const NIST_HUBS: readonly { readonly id: string; readonly weight: number }[] = [
  { id: 'LOC-GB-LDN', weight: 40 },
  { id: 'LOC-US-NYC', weight: 25 },
  { id: 'LOC-SG-SIN', weight: 15 },
  { id: 'LOC-IN-PNQ', weight: 10 },
  { id: 'LOC-DE-FRA', weight: 10 },
];

/** Sites with data centres or large offices: where physical and environmental controls run. */
export const NIST_SITES: readonly string[] = ['LOC-GB-LDN', 'LOC-GB-EDI', 'LOC-US-NYC', 'LOC-US-CLT', 'LOC-SG-SIN', 'LOC-IN-PNQ', 'LOC-DE-FRA', 'LOC-HK-HKG'];
