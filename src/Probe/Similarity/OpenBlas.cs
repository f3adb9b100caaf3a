using System.Runtime.InteropServices;

namespace Probe.Similarity;

/// <summary>
/// The host's OpenBLAS SGEMM, when the process can load it (Debian: <c>apt-get install libopenblas0-pthread</c>), for
/// the float32 products of linear CKA. Measured on this project's 2-core AMD EPYC machines, OpenBLAS's SGEMM does the
/// same blocked products in about 0.6x the CPU time of the MKL SGEMM inside libtorch (70,000 x 2,048 vs 70,000 x 4,096:
/// 28 s of user time for NumPy + OpenBLAS against 47 s for libtorch), so the CKA engine uses it when it is there and
/// libtorch's otherwise. Procrustes uses its DGEMM and LAPACK's dgesdd (which OpenBLAS ships) the same way, as NumPy
/// does (10,000 x 1,024 pair, whole process: 0.83 s against 1.29 s on libtorch's path). Set <c>PROBE_GEMM=torch</c> to
/// force libtorch's.
/// </summary>
internal static unsafe class OpenBlas
{
    private const int RowMajor = 101, NoTrans = 111, Trans = 112;
    private static readonly delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void> Sgemm;
    private static readonly delegate* unmanaged<int, int, int, int, int, int, double, double*, int, double*, int, double, double*, int, void> Dgemm;
    private const int Upper = 121;
    private static readonly delegate* unmanaged<int, int, int, int, int, float, float*, int, float, float*, int, void> Ssyrk;
    private static readonly delegate* unmanaged<int, int, int, int, int, double, double*, int, double, double*, int, void> Dsyrk;
    // LAPACK's Fortran dsyevd: JOBZ, UPLO, N, A, LDA, W, WORK, LWORK, IWORK, LIWORK, INFO, then the hidden lengths of JOBZ and UPLO.
    private static readonly delegate* unmanaged<byte*, byte*, int*, double*, int*, double*, double*, int*, int*, int*, int*, nuint, nuint, void> Dsyevd;
    // LAPACK's Fortran dgesdd (OpenBLAS ships LAPACK): every argument by reference, then the hidden length of JOBZ.
    private static readonly delegate* unmanaged<byte*, int*, int*, double*, int*, double*, double*, int*, double*, int*, double*, int*, int*, int*, nuint, void> Dgesdd;

    /// <summary>The library loaded, or null when none could be (then <see cref="Available"/> is false).</summary>
    public static string? Library { get; }

    /// <summary>Whether the float32 CKA products run on OpenBLAS.</summary>
    public static bool Available => Sgemm != null && !TorchOnly.Value && Environment.GetEnvironmentVariable("PROBE_GEMM") != "torch";

    /// <summary>Set in a test's flow to run libtorch's path although OpenBLAS is loaded.</summary>
    internal static readonly AsyncLocal<bool> TorchOnly = new();

    [DllImport("libc", EntryPoint = "setenv")]
    private static extern int SetEnv(string name, string value, int overwrite);

    /// <summary>
    /// OpenBLAS's idle threads spin (sched_yield) for 2^28 cycles after each call before they sleep; between the
    /// chunked products this process centres the next chunk on the same cores, so the spinning took a core from it
    /// (20,000 x 1,024 vs 768 linear CKA: 1.27 s CPU, 0.71 s wall with the default; 1.10 s and 0.66 s at 2^4).
    /// OpenBLAS reads OPENBLAS_THREAD_TIMEOUT once, when it loads; a value the user set is kept.
    /// </summary>
    private const string ThreadTimeout = "4";

    static OpenBlas()
    {
        if (!OperatingSystem.IsLinux()) return;
        // The native environment (not .NET's copy), before the library loads.
        try { SetEnv("OPENBLAS_THREAD_TIMEOUT", ThreadTimeout, overwrite: 0); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
        foreach (var name in new[] { "libopenblas.so.0", "/usr/lib/x86_64-linux-gnu/libopenblas.so.0", "libopenblas.so" })
        {
            if (!NativeLibrary.TryLoad(name, out var handle)) continue;
            if (!NativeLibrary.TryGetExport(handle, "cblas_sgemm", out var f)) continue;
            Sgemm = (delegate* unmanaged<int, int, int, int, int, int, float, float*, int, float*, int, float, float*, int, void>)f;
            if (NativeLibrary.TryGetExport(handle, "cblas_ssyrk", out var syrk))
                Ssyrk = (delegate* unmanaged<int, int, int, int, int, float, float*, int, float, float*, int, void>)syrk;
            if (NativeLibrary.TryGetExport(handle, "cblas_dgemm", out var d) && NativeLibrary.TryGetExport(handle, "dgesdd_", out var svd))
            {
                Dgemm = (delegate* unmanaged<int, int, int, int, int, int, double, double*, int, double*, int, double, double*, int, void>)d;
                Dgesdd = (delegate* unmanaged<byte*, int*, int*, double*, int*, double*, double*, int*, double*, int*, double*, int*, int*, int*, nuint, void>)svd;
                if (NativeLibrary.TryGetExport(handle, "cblas_dsyrk", out var dsyrk) && NativeLibrary.TryGetExport(handle, "dsyevd_", out var eig))
                {
                    Dsyrk = (delegate* unmanaged<int, int, int, int, int, double, double*, int, double, double*, int, void>)dsyrk;
                    Dsyevd = (delegate* unmanaged<byte*, byte*, int*, double*, int*, double*, double*, int*, int*, int*, int*, nuint, nuint, void>)eig;
                }
            }
            Library = name;
            return;
        }
    }

    /// <summary>Whether float64 products and singular values run on OpenBLAS (its DGEMM and LAPACK's dgesdd).</summary>
    public static bool DoubleAvailable => Available && Dgemm != null && Dgesdd != null;

    /// <summary>C (m x n, row-major) = A' B for row-major double A (k x m) and B (k x n), all dense.</summary>
    public static void TransposedProduct(int m, int n, int k, double* a, double* b, double* c) =>
        TransposedProduct(m, n, k, a, m, b, n, c, n);

    /// <summary>Whether <see cref="GramEigenvalues"/> runs (DSYRK and LAPACK's dsyevd loaded).</summary>
    public static bool GramAvailable => DoubleAvailable && Dsyrk != null && Dsyevd != null;

    /// <summary>
    /// The eigenvalues (ascending) of the Gram matrix M' M (n x n) of a row-major m x n double matrix M, by DSYRK (the
    /// upper triangle only) and LAPACK's dsyevd without vectors: the squared singular values of M, in about a third of
    /// the work of <see cref="SingularValues"/>. The caller decides whether they are accurate enough (squaring the
    /// condition number squares the relative error of the small ones).
    /// </summary>
    public static double[] GramEigenvalues(double[] matrix, int m, int n)
    {
        if (Dsyrk == null || Dsyevd == null) throw new InvalidOperationException("OpenBLAS's DSYRK or dsyevd is not loaded.");
        var g = new double[(long)n * n];
        var w = new double[n];
        int order = n, lda = Math.Max(1, n), info = 0, query = -1, iquery = 0;
        // Row-major upper triangle = column-major lower triangle.
        byte jobz = (byte)'N', uplo = (byte)'L';
        double size = 0;
        fixed (double* a = matrix, pg = g, pw = w)
        {
            Dsyrk(RowMajor, Upper, Trans, n, m, 1.0, a, n, 0.0, pg, n);
            Dsyevd(&jobz, &uplo, &order, pg, &lda, pw, &size, &query, &iquery, &query, &info, 1, 1);
            if (info != 0) throw new InvalidOperationException($"dsyevd workspace query failed (info {info}).");
            int lwork = (int)Math.Max(1, size), liwork = Math.Max(1, iquery);
            var work = new double[lwork];
            var iwork = new int[liwork];
            fixed (double* pwork = work)
            fixed (int* piwork = iwork)
                Dsyevd(&jobz, &uplo, &order, pg, &lda, pw, pwork, &lwork, piwork, &liwork, &info, 1, 1);
        }
        if (info != 0) throw new InvalidOperationException($"dsyevd did not converge (info {info}).");
        return w;
    }

    /// <summary>
    /// The singular values of a dense m x n matrix (row-major, overwritten), descending, by LAPACK's dgesdd without
    /// vectors. The row-major data read column-major is the transpose, which has the same singular values.
    /// </summary>
    public static double[] SingularValues(double[] matrix, int m, int n)
    {
        if (Dgesdd == null) throw new InvalidOperationException("OpenBLAS's dgesdd is not loaded.");
        int rows = n, cols = m, lda = Math.Max(1, n), one = 1, info = 0, query = -1;
        var s = new double[Math.Min(m, n)];
        var iwork = new int[8 * Math.Max(1, Math.Min(m, n))];
        byte jobz = (byte)'N';
        double size = 0, dummy = 0;
        fixed (double* a = matrix, sv = s)
        fixed (int* iw = iwork)
        {
            Dgesdd(&jobz, &rows, &cols, a, &lda, sv, &dummy, &one, &dummy, &one, &size, &query, iw, &info, 1);
            if (info != 0) throw new InvalidOperationException($"dgesdd workspace query failed (info {info}).");
            int lwork = (int)Math.Max(1, size);
            var work = new double[lwork];
            fixed (double* w = work)
                Dgesdd(&jobz, &rows, &cols, a, &lda, sv, &dummy, &one, &dummy, &one, w, &lwork, iw, &info, 1);
        }
        if (info != 0) throw new InvalidOperationException($"dgesdd did not converge (info {info}).");
        return s;
    }

    /// <summary>Whether the float64 <see cref="SymmetricProduct(int, int, double*, int, double*, int, double)"/> (DSYRK) and <see cref="TransposedProduct(int, int, int, double*, int, double*, int, double*, int, double)"/> (DGEMM) are there.</summary>
    public static bool DoubleSymmetricAvailable => DoubleAvailable && Dsyrk != null;

    /// <summary>The float64 <see cref="SymmetricProduct(int, int, float*, int, float*, int, float)"/>, by DSYRK.</summary>
    public static void SymmetricProduct(int n, int k, double* a, int lda, double* c, int ldc, double beta = 0)
    {
        if (Dsyrk == null) throw new InvalidOperationException("OpenBLAS's DSYRK is not loaded.");
        Dsyrk(RowMajor, Upper, Trans, n, k, 1.0, a, lda, beta, c, ldc);
    }

    /// <summary>The float64 <see cref="TransposedProduct(int, int, int, float*, int, float*, int, float*, int, float)"/>, by DGEMM.</summary>
    public static void TransposedProduct(int m, int n, int k, double* a, int lda, double* b, int ldb, double* c, int ldc, double beta = 0)
    {
        if (Dgemm == null) throw new InvalidOperationException("OpenBLAS's DGEMM is not loaded.");
        Dgemm(RowMajor, Trans, NoTrans, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
    }

    /// <summary>Whether <see cref="SymmetricProduct(int, int, float*, int, float*, int, float)"/> (SSYRK) is there (every OpenBLAS exports it).</summary>
    public static bool SymmetricAvailable => Available && Ssyrk != null;

    /// <summary>
    /// The upper triangle (row-major, j &gt;= i) of C = A' A (n x n, leading dimension ldc) for row-major float32 A
    /// (k x n, leading dimension lda), by SSYRK: half the multiply-adds of the full product. The lower triangle of C is
    /// left as it was. With <paramref name="beta"/> 1 the product is added to C's upper triangle instead (0: C's
    /// previous values are never read).
    /// </summary>
    public static void SymmetricProduct(int n, int k, float* a, int lda, float* c, int ldc, float beta = 0)
    {
        if (Ssyrk == null) throw new InvalidOperationException("OpenBLAS's SSYRK is not loaded.");
        Ssyrk(RowMajor, Upper, Trans, n, k, 1f, a, lda, beta, c, ldc);
    }

    /// <summary>
    /// C (m x n, row-major, leading dimension ldc) = A B', where A is m x k and B is n x k (row-major, leading
    /// dimensions lda and ldb): every row of A against every row of B.
    /// </summary>
    public static void ProductWithTransposed(int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc)
    {
        if (Sgemm == null) throw new InvalidOperationException("OpenBLAS is not loaded.");
        Sgemm(RowMajor, NoTrans, Trans, m, n, k, 1f, a, lda, b, ldb, 0f, c, ldc);
    }

    /// <summary>
    /// C (m x n, row-major, leading dimension ldc) = A' B, where A is k x m (row-major, leading dimension lda) and
    /// B is k x n (row-major, leading dimension ldb); with <paramref name="beta"/> 1, C += A' B instead.
    /// </summary>
    public static void TransposedProduct(int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc, float beta = 0)
    {
        if (Sgemm == null) throw new InvalidOperationException("OpenBLAS is not loaded.");
        Sgemm(RowMajor, Trans, NoTrans, m, n, k, 1f, a, lda, b, ldb, beta, c, ldc);
    }
}
