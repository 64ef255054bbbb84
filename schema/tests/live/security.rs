//! A ring that requires logins and TLS: the apps get in with the right credentials and CA, and
//! every wrong way in is one clear line. The password never shows.

use std::path::PathBuf;
use std::process::Command;

use anyhow::Context as _;
use ring::testing::{self, one_line_failure};
use ring::{Security, Shape};

fn schema() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("schema"))
}

/// The ring is started once (it costs a minute), then each claim is checked in turn, in this
/// order (the first creates the keyspace the later ones use); a failed assert or an error names
/// its claim.
#[tokio::test]
async fn logins_and_tls_are_required_and_work() -> anyhow::Result<()> {
    let _turn = testing::exclusive().await;
    let shape = Shape::new(1, 1, "127.0.8".parse().map_err(anyhow::Error::msg)?)
        .map_err(anyhow::Error::msg)?;
    let own = testing::start_ring_with(
        "test-secure",
        shape,
        Security {
            auth: true,
            tls: true,
        },
    )
    .await?;
    let files = own.ring.security_files();
    let (client_cert, client_key) = files.client_certificate();
    let ring = SecureRing {
        hosts: own.hosts(),
        ca: files.ca_certificate(),
        password: files.password_file(),
        client_cert,
        client_key,
        keyspace: testing::unique_keyspace("secure"),
    };

    claim_the_right_login_and_ca_get_in(&ring)
        .await
        .context("claim: the right login and CA get in")?;
    claim_a_client_certificate_signed_by_the_rings_ca_is_accepted(&ring)
        .await
        .context("claim: a client certificate signed by the ring's CA is accepted")?;
    claim_plain_connections_are_refused_with_a_hint_about_tls(&ring).await;
    claim_a_ca_that_did_not_sign_the_nodes_certificate_fails_the_handshake(&ring)
        .await
        .context("claim: a CA that did not sign the node's certificate fails the handshake")?;
    claim_no_login_is_refused_in_one_line(&ring).await;
    claim_a_wrong_password_is_refused_in_one_line_that_does_not_print_it(&ring).await;
    claim_the_factory_logs_in_from_the_environment_and_the_password_never_shows(&ring)
        .await
        .context("claim: the factory logs in from the environment, the password never shows")?;
    claim_factory_help_shows_no_password_from_the_environment()
        .await
        .context("claim: --help shows no password from the environment")?;
    own.stop().await?;
    Ok(())
}

/// The secure ring's ways in, and the keyspace the claims use.
struct SecureRing {
    hosts: String,
    ca: PathBuf,
    password: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    keyspace: String,
}

impl SecureRing {
    /// Adds the right way in to `command`: hosts, login, password file and CA.
    fn secure(&self, command: &mut Command) {
        command
            .args([
                "--hosts",
                &self.hosts,
                "--user",
                "cassandra",
                "--password-file",
            ])
            .arg(&self.password)
            .arg("--tls-ca")
            .arg(&self.ca);
    }
}

/// [`one_line_failure`] (exit code 1), a panic of its own naming `claim`.
fn one_line_failure_of(claim: &str, command: &mut Command) -> String {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        one_line_failure(command, 1)
    }))
    .unwrap_or_else(|_| panic!("claim: {claim}: not one line and exit code 1 (see above)"))
}

/// The right way in: `apply` creates the keyspace the later claims use.
async fn claim_the_right_login_and_ca_get_in(ring: &SecureRing) -> anyhow::Result<()> {
    let mut apply = schema();
    apply.args(["apply", "--keyspace", &ring.keyspace]);
    ring.secure(&mut apply);
    let output = apply.output()?;
    assert!(
        output.status.success(),
        "claim: the right login and CA get in: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

async fn claim_a_client_certificate_signed_by_the_rings_ca_is_accepted(
    ring: &SecureRing,
) -> anyhow::Result<()> {
    let mut check = schema();
    check
        .args(["check", "--keyspace", &ring.keyspace, "--tls-cert"])
        .arg(&ring.client_cert)
        .arg("--tls-key")
        .arg(&ring.client_key);
    ring.secure(&mut check);
    assert!(
        check.output()?.status.success(),
        "claim: a client certificate signed by the ring's CA is accepted"
    );
    Ok(())
}

/// Plaintext is refused, and the message says TLS may be why.
async fn claim_plain_connections_are_refused_with_a_hint_about_tls(ring: &SecureRing) {
    const CLAIM: &str = "plain connections are refused, with a hint about TLS";
    let mut plaintext = schema();
    plaintext
        .args(["check", "--hosts", &ring.hosts, "--user", "cassandra"])
        .arg("--password-file")
        .arg(&ring.password);
    let line = one_line_failure_of(CLAIM, &mut plaintext);
    assert!(
        line.contains("if the ring requires TLS, pass --tls-ca"),
        "claim: {CLAIM}: {line}"
    );
}

async fn claim_a_ca_that_did_not_sign_the_nodes_certificate_fails_the_handshake(
    ring: &SecureRing,
) -> anyhow::Result<()> {
    const CLAIM: &str = "a CA that did not sign the node's certificate fails the handshake";
    let stranger = tempfile::tempdir()?;
    let other_ca = stranger.path().join("other.crt");
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=someone else"])
        .arg("-keyout")
        .arg(stranger.path().join("other.key"))
        .arg("-out")
        .arg(&other_ca)
        .output()?;
    assert!(made.status.success(), "claim: {CLAIM}: openssl made a CA");
    let mut wrong_ca = schema();
    wrong_ca
        .args(["check", "--hosts", &ring.hosts, "--user", "cassandra"])
        .arg("--password-file")
        .arg(&ring.password)
        .arg("--tls-ca")
        .arg(&other_ca);
    let line = one_line_failure_of(CLAIM, &mut wrong_ca);
    assert!(
        line.contains("TLS handshake failed") && line.contains("certificate verify failed"),
        "claim: {CLAIM}: {line}"
    );
    Ok(())
}

async fn claim_no_login_is_refused_in_one_line(ring: &SecureRing) {
    const CLAIM: &str = "no login is refused in one line";
    let mut anonymous = schema();
    anonymous
        .args(["check", "--hosts", &ring.hosts])
        .arg("--tls-ca")
        .arg(&ring.ca)
        .env_remove("CASSANDRA_USER");
    let line = one_line_failure_of(CLAIM, &mut anonymous);
    assert!(
        line.contains("requires authentication: set CASSANDRA_USER and CASSANDRA_PASSWORD"),
        "claim: {CLAIM}: {line}"
    );
}

async fn claim_a_wrong_password_is_refused_in_one_line_that_does_not_print_it(ring: &SecureRing) {
    const CLAIM: &str = "a wrong password is refused in one line that does not print it";
    let mut wrong = schema();
    wrong
        .args(["check", "--hosts", &ring.hosts, "--user", "cassandra"])
        .arg("--tls-ca")
        .arg(&ring.ca)
        .env("CASSANDRA_PASSWORD", "hunter2-wrong");
    let line = one_line_failure_of(CLAIM, &mut wrong);
    assert!(
        line.contains("refused the credentials of user 'cassandra'") && !line.contains("hunter2"),
        "claim: {CLAIM}: {line}"
    );
}

/// The factory logs in with the password from the environment; it is in no output and no report.
async fn claim_the_factory_logs_in_from_the_environment_and_the_password_never_shows(
    ring: &SecureRing,
) -> anyhow::Result<()> {
    let folder = tempfile::tempdir()?;
    let report = folder.path().join("r.json");
    let secret = std::fs::read_to_string(&ring.password)?;
    let factory = Command::new(assert_cmd::cargo::cargo_bin("factory"))
        .args(["--hosts", &ring.hosts, "--keyspace", &ring.keyspace])
        .args(["--visits", "200", "--user", "cassandra", "--tls-ca"])
        .arg(&ring.ca)
        .arg("--report")
        .arg(&report)
        .env("CASSANDRA_PASSWORD", secret.trim())
        .output()?;
    assert!(
        factory.status.success(),
        "claim: the factory logs in with the password from the environment: {}",
        String::from_utf8_lossy(&factory.stderr)
    );
    for (place, text) in [
        ("stdout", String::from_utf8_lossy(&factory.stdout)),
        ("stderr", String::from_utf8_lossy(&factory.stderr)),
        ("the report", std::fs::read_to_string(&report)?.into()),
    ] {
        assert!(
            !text.contains(secret.trim()),
            "claim: the password never shows: the password leaked into {place}"
        );
    }
    Ok(())
}

async fn claim_factory_help_shows_no_password_from_the_environment() -> anyhow::Result<()> {
    let help = Command::new(assert_cmd::cargo::cargo_bin("factory"))
        .arg("--help")
        .env("CASSANDRA_PASSWORD", "hunter2-in-env")
        .output()?;
    assert!(
        !String::from_utf8_lossy(&help.stdout).contains("hunter2"),
        "claim: --help shows no password from the environment"
    );
    Ok(())
}
