//! A ring that requires logins and TLS: the apps get in with the right credentials and CA, and
//! every wrong way in is one clear line. The password never shows.

use std::process::Command;

use cluster::local::{Security, Shape};
use cluster::testing::{self, one_line_failure};

fn schema() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("schema"))
}

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
    let (ca, password) = (files.ca_certificate(), files.password_file());
    let (client_cert, client_key) = files.client_certificate();
    let hosts = own.hosts();
    let keyspace = testing::unique_keyspace("secure");
    let secure = |command: &mut Command| {
        command
            .args(["--hosts", &hosts, "--user", "cassandra", "--password-file"])
            .arg(&password)
            .arg("--tls-ca")
            .arg(&ca);
    };

    // The right way in.
    let mut apply = schema();
    apply.args(["apply", "--keyspace", &keyspace]);
    secure(&mut apply);
    let output = apply.output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // A client certificate signed by the ring's CA is accepted too.
    let mut check = schema();
    check
        .args(["check", "--keyspace", &keyspace, "--tls-cert"])
        .arg(&client_cert)
        .arg("--tls-key")
        .arg(&client_key);
    secure(&mut check);
    assert!(check.output()?.status.success());

    // Plaintext is refused, and the message says TLS may be why.
    let mut plaintext = schema();
    plaintext
        .args([
            "check",
            "--hosts",
            &hosts,
            "--user",
            "cassandra",
            "--password-file",
        ])
        .arg(&password);
    let line = one_line_failure(&mut plaintext, 1);
    assert!(
        line.contains("if the ring requires TLS, pass --tls-ca"),
        "{line}"
    );

    // A CA that did not sign the node's certificate fails the handshake.
    let stranger = tempfile::tempdir()?;
    let other_ca = stranger.path().join("other.crt");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=someone else",
        ])
        .arg("-keyout")
        .arg(stranger.path().join("other.key"))
        .arg("-out")
        .arg(&other_ca)
        .output()?;
    assert!(made.status.success());
    let mut wrong_ca = schema();
    wrong_ca
        .args([
            "check",
            "--hosts",
            &hosts,
            "--user",
            "cassandra",
            "--password-file",
        ])
        .arg(&password)
        .arg("--tls-ca")
        .arg(&other_ca);
    let line = one_line_failure(&mut wrong_ca, 1);
    assert!(
        line.contains("TLS handshake failed") && line.contains("certificate verify failed"),
        "{line}"
    );

    // No login, or a wrong password: one line each, and the password is never printed.
    let mut anonymous = schema();
    anonymous
        .args(["check", "--hosts", &hosts])
        .arg("--tls-ca")
        .arg(&ca)
        .env_remove("CASSANDRA_USER");
    let line = one_line_failure(&mut anonymous, 1);
    assert!(
        line.contains("requires authentication: set CASSANDRA_USER and CASSANDRA_PASSWORD"),
        "{line}"
    );
    let mut wrong = schema();
    wrong
        .args(["check", "--hosts", &hosts, "--user", "cassandra"])
        .arg("--tls-ca")
        .arg(&ca)
        .env("CASSANDRA_PASSWORD", "hunter2-wrong");
    let line = one_line_failure(&mut wrong, 1);
    assert!(
        line.contains("refused the credentials of user 'cassandra'") && !line.contains("hunter2"),
        "{line}"
    );

    // The factory logs in with the password from the environment; it is in no output and no report.
    let folder = tempfile::tempdir()?;
    let report = folder.path().join("r.json");
    let secret = std::fs::read_to_string(&password)?;
    let factory = Command::new(assert_cmd::cargo::cargo_bin("factory"))
        .args([
            "--hosts",
            &hosts,
            "--keyspace",
            &keyspace,
            "--visits",
            "200",
            "--user",
            "cassandra",
            "--tls-ca",
        ])
        .arg(&ca)
        .arg("--report")
        .arg(&report)
        .env("CASSANDRA_PASSWORD", secret.trim())
        .output()?;
    assert!(
        factory.status.success(),
        "{}",
        String::from_utf8_lossy(&factory.stderr)
    );
    for text in [
        String::from_utf8_lossy(&factory.stdout),
        String::from_utf8_lossy(&factory.stderr),
        std::fs::read_to_string(&report)?.into(),
    ] {
        assert!(!text.contains(secret.trim()), "the password leaked");
    }
    let help = Command::new(assert_cmd::cargo::cargo_bin("factory"))
        .arg("--help")
        .env("CASSANDRA_PASSWORD", "hunter2-in-env")
        .output()?;
    assert!(
        !String::from_utf8_lossy(&help.stdout).contains("hunter2"),
        "--help shows no password"
    );
    own.stop().await?;
    Ok(())
}
