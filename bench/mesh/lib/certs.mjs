// The nginx (and plain Node) hop's PKI, made with the openssl CLI: an ECDSA P-256 root and two
// leaves whose URI SANs are the SPIFFE IDs Istio/Bowline would give the two workloads.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const TRUST_DOMAIN = 'cluster.local';
export const SERVER_SPIFFE_ID = `spiffe://${TRUST_DOMAIN}/ns/default/sa/server`;
export const CLIENT_SPIFFE_ID = `spiffe://${TRUST_DOMAIN}/ns/default/sa/client`;
/**
 * nginx checks a DNS name (proxy_ssl_name), not a URI SAN: the server leaf carries this DNS SAN
 * too. The SPIFFE ID is still there for a proxy that checks it (the plain Node pair does).
 */
export const SERVER_DNS_NAME = 'server.default.svc.cluster.local';

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Writes ca.pem, server.{pem,key}, client.{pem,key} into `dir` and returns their paths. */
export function makeCertificates(dir) {
  const p256 = ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  openssl([...p256, '-out', 'ca.key'], dir);
  openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      'ca.key',
      '-sha256',
      '-days',
      '2',
      '-subj',
      '/O=bowline-bench/CN=bench mesh root',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      'ca.pem',
    ],
    dir,
  );
  const leaf = (name, san) => {
    openssl([...p256, '-out', `${name}.key`], dir);
    openssl(['req', '-new', '-key', `${name}.key`, '-subj', '/O=bowline-bench', '-out', `${name}.csr`], dir);
    writeFileSync(
      join(dir, `${name}.ext`),
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyAgreement',
        'extendedKeyUsage=serverAuth,clientAuth',
        `subjectAltName=${san}`,
        '',
      ].join('\n'),
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-sha256',
        '-days',
        '2',
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.pem`,
      ],
      dir,
    );
  };
  leaf('server', `URI:${SERVER_SPIFFE_ID},DNS:${SERVER_DNS_NAME}`);
  leaf('client', `URI:${CLIENT_SPIFFE_ID}`);
  return {
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
  };
}
