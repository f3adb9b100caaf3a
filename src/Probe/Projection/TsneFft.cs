using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Probe.Projection;

/// <summary>
/// t-SNE repulsion by FFT-accelerated interpolation (Linderman, Rachh, Hoskins, Steinerberger &amp; Kluger 2019,
/// "Fast interpolation-based t-SNE for improved visualization of single-cell RNA-seq data", Nature Methods 16).
/// The embedding's bounding square is cut into B x B intervals (B = max(50, span), i.e. at most one unit per
/// interval, rounded up so 6B is a product of 2, 3 and 5); each interval holds 3 x 3 equispaced nodes, so all nodes
/// form one uniform M x M grid (M = 3B). With K(d) = 1 / (1 + d^2)^2 and charges 1, y_x, y_y, |y|^2 spread to the
/// nodes by Lagrange interpolation, the potentials phi_c(node) = sum_nodes K(node - node') w_c(node') are one 2-D
/// convolution per charge (zero-padded to 2M x 2M, by FFT), interpolated back to the points. Then
/// sum_j q_ij^2 (y_i - y_j) = y_i phi_0 - (phi_1, phi_2) and
/// sum_j q_ij = (1 + |y_i|^2) phi_0 - 2 y_i . (phi_1, phi_2) + phi_3 - 1 (the point itself adds exactly 1).
/// Coordinates are taken relative to the square's centre. All sums are in double and in a fixed order.
/// </summary>
internal sealed class TsneFftRepulsion
{
    /// <summary>Interpolation nodes per interval and axis.</summary>
    public const int Terms = 3;
    /// <summary>Fewest intervals per axis.</summary>
    public const int MinIntervals = 50;

    readonly int n;
    readonly int[] cellX, cellY;
    readonly double[] wx, wy, px, py;
    double[] grid = [], kernel = [], pot = [];

    public TsneFftRepulsion(int n)
    {
        this.n = n;
        cellX = new int[n]; cellY = new int[n];
        wx = new double[Terms * n]; wy = new double[Terms * n];
        px = new double[n]; py = new double[n];
    }

    /// <summary>Intervals per axis for a square of side <paramref name="span"/>.</summary>
    internal static int Intervals(double span)
    {
        int b = Math.Max(MinIntervals, (int)Math.Ceiling(span));
        while (!Smooth(2 * Terms * b)) b++;
        return b;
    }

    static bool Smooth(int v)
    {
        foreach (int p in new[] { 2, 3, 5 }) while (v % p == 0) v /= p;
        return v == 1;
    }

    /// <summary>Fills rep (2n, interleaved: sum_j q_ij^2 (y_i - y_j)) and z (n: sum_j q_ij, j != i).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Compute(double[] y, double[] rep, double[] z)
    {
        double minX = double.MaxValue, minY = double.MaxValue, maxX = double.MinValue, maxY = double.MinValue;
        for (int i = 0; i < n; i++)
        {
            double a = y[2 * i], b = y[2 * i + 1];
            if (a < minX) minX = a; if (a > maxX) maxX = a;
            if (b < minY) minY = b; if (b > maxY) maxY = b;
        }
        double span = Math.Max(Math.Max(maxX - minX, maxY - minY), 1e-12) * (1 + 1e-9);
        int boxes = Intervals(span);
        double h = span / boxes;
        int m = boxes * Terms, m2 = 2 * m;
        double cx = minX + 0.5 * span, cy = minY + 0.5 * span;
        // per point: interval and Lagrange weights of the interval's 3 nodes at (k + 0.5) / 3 of its width
        Parallel.For(0, (n + 4095) / 4096, blk =>
        {
            for (int i = blk * 4096, e = Math.Min(n, i + 4096); i < e; i++)
            {
                double ux = (y[2 * i] - minX) / h, uy = (y[2 * i + 1] - minY) / h;
                int ix = Math.Min((int)ux, boxes - 1), iy = Math.Min((int)uy, boxes - 1);
                cellX[i] = ix; cellY[i] = iy;
                Lagrange(ux - ix, wx.AsSpan(Terms * i, Terms));
                Lagrange(uy - iy, wy.AsSpan(Terms * i, Terms));
                px[i] = y[2 * i] - cx; py[i] = y[2 * i + 1] - cy;
            }
        });
        long plane = (long)m2 * m2;
        if (grid.Length != 4 * plane) { grid = new double[4 * plane]; kernel = new double[plane]; }
        else Array.Clear(grid);
        if (pot.Length != 4 * m * m) pot = new double[4 * m * m];
        // spread the four charges, one channel per task (each a fixed sequential order)
        Parallel.For(0, 4, c =>
        {
            var g = grid.AsSpan((int)(c * plane), (int)plane);
            for (int i = 0; i < n; i++)
            {
                double q = c switch { 0 => 1.0, 1 => px[i], 2 => py[i], _ => px[i] * px[i] + py[i] * py[i] };
                int gx = cellX[i] * Terms, gy = cellY[i] * Terms;
                for (int b = 0; b < Terms; b++)
                {
                    double wb = wy[Terms * i + b] * q;
                    int row = (gy + b) * m2 + gx;
                    for (int a = 0; a < Terms; a++) g[row + a] += wx[Terms * i + a] * wb;
                }
            }
        });
        // kernel at every node offset, laid out circularly for a 2M-periodic convolution
        double delta = h / Terms;
        {
            for (int r = 0; r < m2; r++)
            {
                double oy = (r < m ? r : r - m2) * delta;
                for (int c = 0; c < m2; c++)
                {
                    double ox = (c < m ? c : c - m2) * delta;
                    double q = 1.0 / (1.0 + ox * ox + oy * oy);
                    kernel[(long)r * m2 + c] = q * q;
                }
            }
        }
        using (var scope = NewDisposeScope())
        {
            // The FFTs run in float32 (twice as fast as float64; its rounding is far below the interpolation error).
            var gt = frombuffer(grid, ScalarType.Float64, 4 * plane, 0, false).view(4, m2, m2).to_type(ScalarType.Float32);
            var kt = frombuffer(kernel, ScalarType.Float64, plane, 0, false).view(m2, m2).to_type(ScalarType.Float32);
            var conv = fft.irfft2(fft.rfft2(gt).mul_(fft.rfft2(kt)), new long[] { m2, m2 });
            var part = conv.narrow(1, 0, m).narrow(2, 0, m).to_type(ScalarType.Float64).contiguous();
            MemoryMarshal.Cast<byte, double>(part.bytes).CopyTo(pot);
        }
        int mm = m * m;
        Parallel.For(0, (n + 4095) / 4096, blk =>
        {
            for (int i = blk * 4096, e = Math.Min(n, i + 4096); i < e; i++)
            {
                int gx = cellX[i] * Terms, gy = cellY[i] * Terms;
                double p0 = 0, p1 = 0, p2 = 0, p3 = 0;
                for (int b = 0; b < Terms; b++)
                {
                    double wb = wy[Terms * i + b];
                    int row = (gy + b) * m + gx;
                    for (int a = 0; a < Terms; a++)
                    {
                        double w = wx[Terms * i + a] * wb;
                        int t = row + a;
                        p0 += w * pot[t]; p1 += w * pot[mm + t]; p2 += w * pot[2 * mm + t]; p3 += w * pot[3 * mm + t];
                    }
                }
                double xi = px[i], yi = py[i];
                rep[2 * i] = xi * p0 - p1;
                rep[2 * i + 1] = yi * p0 - p2;
                z[i] = (1 + xi * xi + yi * yi) * p0 - 2 * (xi * p1 + yi * p2) + p3 - 1.0;
            }
        });
    }

    /// <summary>Lagrange basis at f in [0, 1] for the nodes (k + 0.5) / 3, k = 0, 1, 2.</summary>
    static void Lagrange(double f, Span<double> w)
    {
        const double t0 = 1.0 / 6, t1 = 0.5, t2 = 5.0 / 6;
        w[0] = (f - t1) * (f - t2) / ((t0 - t1) * (t0 - t2));
        w[1] = (f - t0) * (f - t2) / ((t1 - t0) * (t1 - t2));
        w[2] = (f - t0) * (f - t1) / ((t2 - t0) * (t2 - t1));
    }
}
