using Probe.Native;
using System.Runtime.CompilerServices;
using static TorchSharp.torch;

namespace Probe.Projection;

/// <summary>
/// The PCA reduction in front of t-SNE for wide inputs: the centred covariance X^T X in float32 (one libtorch GEMM),
/// then its top components by subspace iteration in double (Gaussian start from the seed, <see cref="Oversampling"/>
/// extra vectors, <see cref="PowerIterations"/> products with Gram-Schmidt, Rayleigh-Ritz with Jacobi), sign
/// convention of <see cref="Pca"/> (largest |loading| positive), and the projection as a float32 GEMM. Only the
/// subspace matters to t-SNE, so this trades <see cref="Pca"/>'s full double-precision eigendecomposition for speed.
/// </summary>
internal static class TsneReduction
{
    public const int Oversampling = 10;
    public const int PowerIterations = 6;

    /// <summary>Projects the rows of x onto its top <paramref name="components"/> principal axes (n x components).</summary>
    public static Matrix Reduce(Matrix x, int components, int seed)
    {
        int n = x.Rows, d = x.Cols;
        int l = Math.Min(d, components + Oversampling);
        var mean = new double[d];
        for (int i = 0; i < n; i++)
        {
            var row = x.Row(i);
            for (int j = 0; j < d; j++) mean[j] += row[j];
        }
        var meanF = new float[d];
        for (int j = 0; j < d; j++) { mean[j] /= n; meanF[j] = (float)mean[j]; }
        using var scope = NewDisposeScope();
        // tensor(float[]) shares the caller's array (pinned, no copy): clone before centring in place.
        var xc = tensor(x.Data, new long[] { n, d }).clone();
        xc.sub_(tensor(meanF, new long[] { 1, d }));
        var cov = xc.t().mm(xc).to_type(ScalarType.Float64).contiguous();
        var c = new double[d * d];
        cov.CopyValuesTo<double>(c);

        // subspace iteration on C (d x d): Q <- orth(C Q)
        var g = Pca.Gaussian(d * l, seed);
        var q = new double[d * l]; // column-major: column t at [t * d, (t + 1) * d)
        for (int i = 0; i < d * l; i++) q[i] = g[i];
        Orthonormalize(q, d, l);
        var next = new double[d * l];
        for (int it = 0; it < PowerIterations; it++)
        {
            Multiply(c, q, next, d, l);
            (q, next) = (next, q);
            Orthonormalize(q, d, l);
        }
        // Rayleigh-Ritz: B = Q^T C Q (l x l)
        Multiply(c, q, next, d, l);
        var b = new double[l * l];
        for (int s = 0; s < l; s++)
            for (int t = s; t < l; t++)
            {
                double v = Dot(q.AsSpan(s * d, d), next.AsSpan(t * d, d));
                b[s * l + t] = v; b[t * l + s] = v;
            }
        var (_, vecs) = SymmetricEigen.Jacobi(b, l);
        var w = new float[components * d]; // rows = components
        var comp = new double[d];
        for (int k = 0; k < components; k++)
        {
            Array.Clear(comp);
            for (int s = 0; s < l; s++)
            {
                double coef = vecs[k][s];
                for (int j = 0; j < d; j++) comp[j] += coef * q[s * d + j];
            }
            Pca.SignFlip(comp);
            for (int j = 0; j < d; j++) w[k * d + j] = (float)comp[j];
        }
        var y = xc.mm(tensor(w, new long[] { components, d }).t()).contiguous();
        var result = new Matrix(n, components);
        y.CopyValuesTo<float>(result.Data);
        return result;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static void Multiply(double[] c, double[] q, double[] result, int d, int l)
    {
        // result[:, t] = C q[:, t]; C symmetric, so row r of C is column r
        Parallel.For(0, l, t =>
        {
            var qt = q.AsSpan(t * d, d);
            for (int r = 0; r < d; r++) result[t * d + r] = Dot(c.AsSpan(r * d, d), qt);
        });
    }

    static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b) => System.Numerics.Tensors.TensorPrimitives.Dot(a, b);

    /// <summary>Modified Gram-Schmidt (twice, for stability) on the l columns of q (column-major, length d).</summary>
    static void Orthonormalize(double[] q, int d, int l)
    {
        for (int pass = 0; pass < 2; pass++)
            for (int t = 0; t < l; t++)
            {
                var qt = q.AsSpan(t * d, d);
                for (int s = 0; s < t; s++)
                {
                    var qs = q.AsSpan(s * d, d);
                    double proj = Dot(qs, qt);
                    for (int j = 0; j < d; j++) qt[j] -= proj * qs[j];
                }
                double norm = Math.Sqrt(Dot(qt, qt));
                if (norm > 0) for (int j = 0; j < d; j++) qt[j] /= norm;
            }
    }
}
