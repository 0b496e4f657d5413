//! Many distributions of one host all stay up after their start.

use wslp_testing::TestHost;

#[test]
fn ten_distributions_started_back_to_back_stay_up() {
    let mut b = TestHost::builder();
    for i in 0..10 {
        b = b.busybox_distribution(&format!("d{i}"));
    }
    let host = b.build().unwrap();
    for i in 0..10 {
        host.start_distribution(&format!("d{i}")).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    for i in 0..10 {
        let out = host.run(&format!("d{i}"), &["echo", "up"]).unwrap();
        assert_eq!(
            (out.code, out.stdout_text().as_str()),
            (0, "up\n"),
            "d{i}: {}",
            out.stderr_text()
        );
    }
}
