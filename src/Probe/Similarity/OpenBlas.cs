using System.Runtime.InteropServices;

namespace Probe.Similarity;

/// <summary>
/// The host's OpenBLAS SGEMM, when the process can load it (Debian: <c>apt-get install libopenblas0-pthread</c>), for
/// the float32 products of linear CKA. Measured on this project's 2-core AMD EPYC machines, OpenBLAS's SGEMM does the
/// same blocked products in about 0.6x the CPU time of the MKL SGEMM inside libtorch (70,000 x 2,048 vs 70,000 x 4,096:
/// 28 s of user time for NumPy + OpenBLAS against 47 s for libtorch), so the CKA engine uses it when it is there and
/// libtorch's otherwise. Set <c>PROBE_GEMM=torch</c> to force libtorch's.
/// </summary>
internal static unsafe class OpenBlas
{
    private const int RowMajor = 101, NoTrans = 111, Trans = 112;
    private static readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> Sgemm;

    /// <summary>The library loaded, or null when none could be (then <see cref="Available"/> is false).</summary>
    public static string? Library { get; }

    /// <summary>Whether the float32 CKA products run on OpenBLAS.</summary>
    public static bool Available => Sgemm != null && !TorchOnly.Value && Environment.GetEnvironmentVariable("PROBE_GEMM") != "torch";

    /// <summary>Set in a test's flow to run libtorch's path although OpenBLAS is loaded.</summary>
    internal static readonly AsyncLocal<bool> TorchOnly = new();

    static OpenBlas()
    {
        if (!OperatingSystem.IsLinux()) return;
        foreach (var name in new[] { "libopenblas.so.0", "/usr/lib/x86_64-linux-gnu/libopenblas.so.0", "libopenblas.so" })
        {
            if (!NativeLibrary.TryLoad(name, out var handle)) continue;
            if (!NativeLibrary.TryGetExport(handle, "cblas_sgemm", out var f)) continue;
            Sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)f;
            Library = name;
            return;
        }
    }

    /// <summary>
    /// C (m x n, row-major, leading dimension ldc) = A' B, where A is k x m (row-major, leading dimension lda) and
    /// B is k x n (row-major, leading dimension ldb).
    /// </summary>
    public static void TransposedProduct(int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc)
    {
        if (Sgemm == null) throw new InvalidOperationException("OpenBLAS is not loaded.");
        Sgemm(RowMajor, Trans, NoTrans, m, n, k, 1f, a, lda, b, ldb, 0f, c, ldc);
    }
}
