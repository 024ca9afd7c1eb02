internal import CWPSOpenSSL

/// Facts about a certificate file that start-up checks report.
public enum TLSCertificateInfo {
    /// Whole days until the first certificate in the PEM file expires, negative once it has;
    /// nil when the file cannot be read.
    public static func daysLeft(certificatePath: String) -> Int? {
        var days: Int32 = 0
        return wps_tls_certificate_days_left(certificatePath, &days) == 0 ? Int(days) : nil
    }
}
