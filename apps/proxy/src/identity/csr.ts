import { type KeyObject, sign } from 'node:crypto';
import forge from 'node-forge';
import { encodePem } from '#libs/pki';

const { asn1 } = forge;
const { Class, Type } = asn1;

const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
/** GeneralName `uniformResourceIdentifier [6] IMPLICIT IA5String`. */
const GENERAL_NAME_URI = 6;

/** What goes into a workload CSR. */
export interface CsrParams {
  /** The new ECDSA P-256 key pair; only the public half ends up in the request. */
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
  /** Requested URI SAN. Citadel issues the authenticated identity and refuses a request for any other. */
  readonly spiffeId?: string;
}

/**
 * Builds a PKCS#10 certificate signing request (PEM) for an ECDSA P-256 key, signed with
 * ecdsa-with-SHA256: version 0, empty subject, the key's SubjectPublicKeyInfo and, when
 * `spiffeId` is given, an extensionRequest attribute asking for it as URI subjectAltName.
 * node-forge cannot sign EC requests, so the DER is assembled here and signed with node:crypto.
 */
export function buildCsr(params: CsrParams): string {
  if (params.publicKey.asymmetricKeyType !== 'ec' || params.privateKey.asymmetricKeyType !== 'ec') {
    throw new TypeError('buildCsr signs with ECDSA: give an EC (P-256) key pair');
  }
  const info = certificationRequestInfo(params.publicKey, params.spiffeId);
  const infoDer = toDer(info);
  const signature = sign('sha256', infoDer, params.privateKey);
  const request = sequence([info, algorithmIdentifier(OID_ECDSA_WITH_SHA256), bitString(signature)]);
  return encodePem('CERTIFICATE REQUEST', toDer(request));
}

function certificationRequestInfo(publicKey: KeyObject, spiffeId: string | undefined): forge.asn1.Asn1 {
  const spki = fromDer(publicKey.export({ type: 'spki', format: 'der' }));
  const attributes = spiffeId === undefined ? [] : [extensionRequest(spiffeId)];
  return sequence([
    asn1.create(Class.UNIVERSAL, Type.INTEGER, false, asn1.integerToDer(0).getBytes()),
    sequence([]), // subject: the empty Name; the certificate's identity is its URI SAN
    spki,
    asn1.create(Class.CONTEXT_SPECIFIC, 0, true, attributes),
  ]);
}

/** `Attribute { extensionRequest, SET { Extensions { subjectAltName URI:<id> } } }`. */
function extensionRequest(spiffeId: string): forge.asn1.Asn1 {
  if (!/^[\x21-\x7e]+$/.test(spiffeId)) throw new TypeError('the requested SPIFFE ID must be printable ASCII');
  const generalNames = sequence([asn1.create(Class.CONTEXT_SPECIFIC, GENERAL_NAME_URI, false, spiffeId)]);
  const subjectAltName = sequence([
    oid(OID_SUBJECT_ALT_NAME),
    asn1.create(Class.UNIVERSAL, Type.OCTETSTRING, false, asn1.toDer(generalNames).getBytes()),
  ]);
  return sequence([
    oid(OID_EXTENSION_REQUEST),
    asn1.create(Class.UNIVERSAL, Type.SET, true, [sequence([subjectAltName])]),
  ]);
}

/** AlgorithmIdentifier for an ECDSA signature: the OID, parameters absent (RFC 5758 3.2). */
function algorithmIdentifier(algorithm: string): forge.asn1.Asn1 {
  return sequence([oid(algorithm)]);
}

function bitString(bytes: Buffer): forge.asn1.Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.BITSTRING, false, '\x00' + bytes.toString('binary'));
}

function oid(dotted: string): forge.asn1.Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.OID, false, asn1.oidToDer(dotted).getBytes());
}

function sequence(items: forge.asn1.Asn1[]): forge.asn1.Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, items);
}

function fromDer(der: Buffer): forge.asn1.Asn1 {
  return asn1.fromDer(forge.util.createBuffer(der.toString('binary')));
}

function toDer(node: forge.asn1.Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary');
}
