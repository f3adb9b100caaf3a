using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;
using Probe.Native;

namespace Probe.Analysis;

/// <summary>
/// Full-batch multinomial logistic regression with L-BFGS (two-loop recursion, Armijo backtracking), loss and gradient
/// from two libtorch GEMMs per evaluation. Objective (the same minimizer as scikit-learn's C = 1/l2):
/// mean_i CE(x_i W + b, y_i) + 0.5 (l2 / N) ||W||^2, the bias unpenalized. Parameters and the L-BFGS state are double;
/// X is float32. Stops when max |gradient| &lt;= <c>gradTolerance</c> or the relative objective change over an
/// iteration is &lt;= 2.2e-9 (scipy's default ftol), or after <c>maxIterations</c>. Deterministic for a fixed libtorch thread count.
/// </summary>
internal sealed class TorchLogisticRegression
{
    public required int Features { get; init; }
    public required int Classes { get; init; }
    /// <summary>Row-major Features x Classes weights, then Classes biases.</summary>
    public required double[] Parameters { get; init; }
    public int Iterations { get; init; }

    /// <summary>
    /// Standardized features of <paramref name="rows"/> as a float32 (rows x d) tensor, written straight into native
    /// memory, then moved to <paramref name="device"/> (the CPU when null). Fitting and scoring run where the features are.
    /// </summary>
    public static Tensor Standardized(Matrix x, int[] rows, double[] mu, double[] sd, Device? device = null)
    {
        var t = StandardizedOnCpu(x, rows, mu, sd);
        if (device == null || device.type == DeviceType.CPU) return t;
        using (t) return t.to(device);
    }

    private static Tensor StandardizedOnCpu(Matrix x, int[] rows, double[] mu, double[] sd)
    {
        int d = x.Cols;
        var t = empty([rows.Length, d], ScalarType.Float32);
        var dst = MemoryMarshal.Cast<byte, float>(t.bytes);
        var inv = new float[d]; var m = new float[d];
        for (int j = 0; j < d; j++) { inv[j] = (float)(1 / sd[j]); m[j] = (float)mu[j]; }
        for (int r = 0; r < rows.Length; r++)
        {
            var src = x.Row(rows[r]);
            var o = dst.Slice(r * d, d);
            for (int j = 0; j < d; j++) o[j] = (src[j] - m[j]) * inv[j];
        }
        return t;
    }

    public static TorchLogisticRegression Fit(Tensor x, int[] y, int k, double l2, int maxIterations, double gradTolerance, int history = 10)
    {
        int n = (int)x.shape[0], d = (int)x.shape[1], p = d * k + k;
        using var scope = NewDisposeScope();
        var yoh = zeros([n, k], ScalarType.Float32, device: x.device);
        var yIdx = tensor(y.Select(v => (long)v).ToArray(), [n, 1]).to(x.device);
        yoh.scatter_(1, yIdx, ones([n, 1], ScalarType.Float32, device: x.device));
        double reg = l2 / n;

        var w = new double[p];
        var g = new double[p];
        double f = Evaluate(x, yoh, w, g, d, k, n, reg);
        var s = new List<double[]>(); var yy = new List<double[]>(); var rho = new List<double>();
        var dir = new double[p]; var wNew = new double[p]; var gNew = new double[p];
        int it = 0;
        for (; it < maxIterations; it++)
        {
            if (MaxAbs(g) <= gradTolerance) break;
            // Two-loop recursion: dir = -H g.
            Array.Copy(g, dir, p);
            var alpha = new double[s.Count];
            for (int i = s.Count - 1; i >= 0; i--) { alpha[i] = rho[i] * Dot(s[i], dir); Axpy(-alpha[i], yy[i], dir); }
            double gamma = s.Count > 0 ? Dot(s[^1], yy[^1]) / Dot(yy[^1], yy[^1]) : 1 / Math.Max(1, Math.Sqrt(Dot(g, g)));
            for (int i = 0; i < p; i++) dir[i] *= gamma;
            for (int i = 0; i < s.Count; i++) { double beta = rho[i] * Dot(yy[i], dir); Axpy(alpha[i] - beta, s[i], dir); }
            for (int i = 0; i < p; i++) dir[i] = -dir[i];
            double slope = Dot(g, dir);
            if (!(slope < 0)) { for (int i = 0; i < p; i++) dir[i] = -g[i]; slope = -Dot(g, g); s.Clear(); yy.Clear(); rho.Clear(); }
            // Armijo backtracking from step 1.
            double step = 1, fNew = double.NaN;
            for (int ls = 0; ls < 40; ls++)
            {
                for (int i = 0; i < p; i++) wNew[i] = w[i] + step * dir[i];
                fNew = Evaluate(x, yoh, wNew, gNew, d, k, n, reg);
                if (fNew <= f + 1e-4 * step * slope) break;
                step *= 0.5;
            }
            if (!(fNew <= f)) break;   // no decrease possible at float precision: converged
            var si = new double[p]; var yi = new double[p];
            for (int i = 0; i < p; i++) { si[i] = wNew[i] - w[i]; yi[i] = gNew[i] - g[i]; }
            double sy = Dot(si, yi);
            if (sy > 1e-12)
            {
                if (s.Count == history) { s.RemoveAt(0); yy.RemoveAt(0); rho.RemoveAt(0); }
                s.Add(si); yy.Add(yi); rho.Add(1 / sy);
            }
            double change = (f - fNew) / Math.Max(Math.Max(Math.Abs(f), Math.Abs(fNew)), 1);
            (w, wNew) = (wNew, w); (g, gNew) = (gNew, g); f = fNew;
            if (change <= 2.2e-9) { it++; break; }
        }
        return new TorchLogisticRegression { Features = d, Classes = k, Parameters = w, Iterations = it };
    }

    /// <summary>Class probabilities (rows x k, row-major) of standardized features.</summary>
    public float[] Probabilities(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (wt, bt) = ToTensors(Parameters, Features, Classes, x.device);
        return nn.functional.softmax(x.matmul(wt).add_(bt), 1).Values<float>();
    }

    private static (Tensor W, Tensor B) ToTensors(double[] w, int d, int k, Device device)
    {
        var wf = new float[d * k]; var bf = new float[k];
        for (int i = 0; i < wf.Length; i++) wf[i] = (float)w[i];
        for (int c = 0; c < k; c++) bf[c] = (float)w[d * k + c];
        return (tensor(wf, [d, k], device: device), tensor(bf, [k], device: device));
    }

    // Objective and gradient (into g) at parameters w.
    private static double Evaluate(Tensor x, Tensor yoh, double[] w, double[] g, int d, int k, int n, double reg)
    {
        using var scope = NewDisposeScope();
        var (wt, bt) = ToTensors(w, d, k, x.device);
        var logits = x.matmul(wt).add_(bt);
        var lse = logits.logsumexp(1, keepdim: true);
        double lossSum = lse.to_type(ScalarType.Float64).sum().item<double>() - logits.mul(yoh).to_type(ScalarType.Float64).sum().item<double>();
        var diff = logits.sub_(lse).exp_().sub_(yoh);                   // P - Y
        var gw = diff.t().matmul(x).cpu().contiguous();                  // k x d (G^T X streams X row-major: ~3x faster than X^T G)
        var gb = diff.sum(0, false, ScalarType.Float64).cpu().contiguous(); // k
        var gws = MemoryMarshal.Cast<byte, float>(gw.bytes);
        var gbs = MemoryMarshal.Cast<byte, double>(gb.bytes);
        double wsq = 0;
        for (int j = 0; j < d; j++)
            for (int c = 0; c < k; c++)
            {
                int i = j * k + c;
                g[i] = gws[c * d + j] / (double)n + reg * w[i]; wsq += w[i] * w[i];
            }
        for (int c = 0; c < k; c++) g[d * k + c] = gbs[c] / n;
        return lossSum / n + 0.5 * reg * wsq;
    }

    private static double Dot(double[] a, double[] b) { double s = 0; for (int i = 0; i < a.Length; i++) s += a[i] * b[i]; return s; }
    private static void Axpy(double a, double[] x, double[] y) { for (int i = 0; i < y.Length; i++) y[i] += a * x[i]; }
    private static double MaxAbs(double[] a) { double m = 0; foreach (var v in a) m = Math.Max(m, Math.Abs(v)); return m; }
}
