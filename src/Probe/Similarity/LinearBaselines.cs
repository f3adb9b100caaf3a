namespace Probe.Similarity;

/// <summary>
/// The classic similarity indices CKA is compared against in Kornblith et al. 2019 (Table 2), as pure functions on
/// centred data in double precision: linear-regression R^2 and mean canonical correlation. Both work on orthonormal
/// bases of the centred column spaces, so rank-deficient layers (dead units, duplicated columns) are handled.
/// </summary>
public static class LinearBaselines
{
    /// <summary>Relative singular-value threshold below which a direction counts as absent (rank detection).</summary>
    public const double RankTolerance = 1e-10;

    /// <summary>
    /// R^2 of the least-squares fit of <paramref name="target"/> from <paramref name="predictor"/> (both centred):
    /// ||Q_Y' X||_F^2 / ||X||_F^2 (Kornblith et al. 2019, eq. for R^2_LR). Asymmetric; in [0, 1].
    /// </summary>
    public static double LinearRegressionR2(Matrix target, Matrix predictor)
    {
        CkaMath.ValidatePair(target, predictor, "the target matrix", "the predictor matrix", 2);
        double[] x = CkaMath.CentredColumns(target);
        int n = target.Rows, dx = target.Cols;
        double total = 0;
        foreach (double v in x) total += v * v;
        if (!(total > 0)) throw CkaMath.Constant("the target matrix");
        var (q, k) = OrthonormalBasis(predictor);
        if (k == 0) throw CkaMath.Constant("the predictor matrix");
        // ||Q' X||_F^2 with Q (n x k) and X (n x dx), both row-major.
        double explained = 0;
        var row = new double[dx];
        for (int a = 0; a < k; a++)
        {
            Array.Clear(row);
            for (int i = 0; i < n; i++)
            {
                double qa = q[i * k + a];
                if (qa == 0) continue;
                int off = i * dx;
                for (int j = 0; j < dx; j++) row[j] += qa * x[off + j];
            }
            foreach (double v in row) explained += v * v;
        }
        return Math.Clamp(explained / total, 0, 1);
    }

    /// <summary>
    /// The canonical correlations of two centred representations (descending, min(rank X, rank Y) of them): the
    /// singular values of Q_X' Q_Y.
    /// </summary>
    public static double[] CanonicalCorrelations(Matrix x, Matrix y)
    {
        CkaMath.ValidatePair(x, y, "the first matrix", "the second matrix", 2);
        var (qx, kx) = OrthonormalBasis(x);
        var (qy, ky) = OrthonormalBasis(y);
        if (kx == 0) throw CkaMath.Constant("the first matrix");
        if (ky == 0) throw CkaMath.Constant("the second matrix");
        int n = x.Rows;
        // Make the smaller basis the columns of M (kBig x kSmall) so M'M is kSmall x kSmall.
        if (kx < ky) { (qx, qy) = (qy, qx); (kx, ky) = (ky, kx); }
        var m = new double[kx * ky];
        for (int i = 0; i < n; i++)
            for (int a = 0; a < kx; a++)
            {
                double v = qx[i * kx + a];
                if (v == 0) continue;
                for (int b = 0; b < ky; b++) m[a * ky + b] += v * qy[i * ky + b];
            }
        var mtm = new double[ky * ky];
        for (int a = 0; a < kx; a++)
            for (int b = 0; b < ky; b++)
            {
                double v = m[a * ky + b];
                for (int c = b; c < ky; c++) mtm[b * ky + c] += v * m[a * ky + c];
            }
        for (int b = 0; b < ky; b++) for (int c = 0; c < b; c++) mtm[b * ky + c] = mtm[c * ky + b];
        var eig = SymmetricEigenvalues(mtm, ky);
        return eig.Select(e => Math.Clamp(Math.Sqrt(Math.Max(e, 0)), 0, 1)).OrderByDescending(v => v).ToArray();
    }

    /// <summary>Mean canonical correlation rho-bar = (1/p) sum_i rho_i, p = min(rank X, rank Y) (Kornblith et al. 2019). Symmetric.</summary>
    public static double MeanCcaCorrelation(Matrix x, Matrix y) => CanonicalCorrelations(x, y).Average();

    /// <summary>
    /// An orthonormal basis (n x k, row-major) of the centred columns' span, by modified Gram-Schmidt with one
    /// re-orthogonalisation pass; columns whose remaining norm is below <see cref="RankTolerance"/> times the largest
    /// column norm are dropped.
    /// </summary>
    public static (double[] Q, int Rank) OrthonormalBasis(Matrix x)
    {
        int n = x.Rows, d = x.Cols;
        double[] c = CkaMath.CentredColumns(x);
        var cols = new List<double[]>();
        double maxNorm = 0;
        var col = new double[n];
        for (int j = 0; j < d; j++)
        {
            double s = 0;
            for (int i = 0; i < n; i++) s += c[i * d + j] * c[i * d + j];
            maxNorm = Math.Max(maxNorm, Math.Sqrt(s));
        }
        if (maxNorm == 0) return ([], 0);
        for (int j = 0; j < d; j++)
        {
            for (int i = 0; i < n; i++) col[i] = c[i * d + j];
            for (int pass = 0; pass < 2; pass++)
                foreach (var q in cols)
                {
                    double dot = 0;
                    for (int i = 0; i < n; i++) dot += q[i] * col[i];
                    for (int i = 0; i < n; i++) col[i] -= dot * q[i];
                }
            double norm = 0;
            for (int i = 0; i < n; i++) norm += col[i] * col[i];
            norm = Math.Sqrt(norm);
            if (norm <= RankTolerance * maxNorm * Math.Sqrt(n) || norm == 0) continue;
            var qn = new double[n];
            for (int i = 0; i < n; i++) qn[i] = col[i] / norm;
            cols.Add(qn);
            if (cols.Count == n) break;
        }
        int k = cols.Count;
        var result = new double[n * k];
        for (int a = 0; a < k; a++)
            for (int i = 0; i < n; i++) result[i * k + a] = cols[a][i];
        return (result, k);
    }

    /// <summary>Eigenvalues of a symmetric k x k matrix (row-major, overwritten) by cyclic Jacobi rotations.</summary>
    internal static double[] SymmetricEigenvalues(double[] a, int k)
    {
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0, diag = 0;
            for (int p = 0; p < k; p++)
            {
                diag += a[p * k + p] * a[p * k + p];
                for (int q = p + 1; q < k; q++) off += a[p * k + q] * a[p * k + q];
            }
            if (off <= 1e-30 * Math.Max(diag, 1e-300)) break;
            for (int p = 0; p < k; p++)
                for (int q = p + 1; q < k; q++)
                {
                    double apq = a[p * k + q];
                    if (Math.Abs(apq) < 1e-300) continue;
                    double app = a[p * k + p], aqq = a[q * k + q];
                    double theta = (aqq - app) / (2 * apq);
                    double t = Math.Sign(theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    if (theta == 0) t = 1;
                    double cs = 1 / Math.Sqrt(t * t + 1), sn = t * cs;
                    for (int r = 0; r < k; r++)
                    {
                        double arp = a[r * k + p], arq = a[r * k + q];
                        a[r * k + p] = cs * arp - sn * arq;
                        a[r * k + q] = sn * arp + cs * arq;
                    }
                    for (int r = 0; r < k; r++)
                    {
                        double apr = a[p * k + r], aqr = a[q * k + r];
                        a[p * k + r] = cs * apr - sn * aqr;
                        a[q * k + r] = sn * apr + cs * aqr;
                    }
                }
        }
        var e = new double[k];
        for (int p = 0; p < k; p++) e[p] = a[p * k + p];
        return e;
    }
}
