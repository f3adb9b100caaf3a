using static TorchSharp.torch;

namespace Probe.Projection;

/// <summary>
/// FFT-accelerated interpolation of the t-SNE repulsion (Linderman et al. 2019, FIt-SNE): the embedding's square
/// bounding box is cut into B x B boxes (B = max(50, span), capped at 400) with 3 equispaced Lagrange nodes per box and
/// axis; four charges (1, y_x, y_y, |y|^2) are spread to the nodes, convolved with the kernel (1 + d^2)^-2 on the node
/// grid by zero-padded 2-D FFT (libtorch rfft2, float64), and interpolated back. Then
/// sum_j q_ij = (1 + |y_i|^2) phi_1 - 2 y_i . phi_y + phi_4 and sum_j q_ij^2 (y_i - y_j) = y_i phi_1 - phi_y.
/// Spreading is sequential (fixed order) and interpolation per point, so results are deterministic.
/// </summary>
internal sealed class FftRepulsion
{
    const int NodesPerBox = 3, MinBoxes = 50, MaxBoxes = 400;
    readonly int n;
    readonly int[] cell;       // per point: first global node index along x and y (2n)
    readonly double[] wts;     // per point: 3 x-weights then 3 y-weights (6n)
    double[] pot = Array.Empty<double>(); // 4 potentials on the M x M grid
    int m;

    public FftRepulsion(int n)
    {
        this.n = n;
        cell = new int[2 * n];
        wts = new double[6 * n];
    }

    /// <summary>Computes the potentials for the current positions; then call <see cref="PointTerms"/> per point.</summary>
    public void Prepare(double[] y)
    {
        double lo = double.MaxValue, hi = double.MinValue;
        foreach (var v in y) { if (v < lo) lo = v; if (v > hi) hi = v; }
        double span = Math.Max(hi - lo, 1e-9);
        int boxes = Math.Clamp((int)Math.Ceiling(span), MinBoxes, MaxBoxes);
        double boxWidth = span / boxes * (1 + 1e-9);
        m = boxes * NodesPerBox;
        double h = boxWidth / NodesPerBox;
        // Lagrange weights on nodes at (k + 0.5) h within the box, k = 0..2
        for (int i = 0; i < n; i++)
            for (int a = 0; a < 2; a++)
            {
                double u = (y[2 * i + a] - lo) / boxWidth;
                int box = Math.Min((int)u, boxes - 1);
                double t = (u - box) * NodesPerBox; // position in node units within the box, nodes at 0.5, 1.5, 2.5
                double d0 = t - 0.5, d1 = t - 1.5, d2 = t - 2.5;
                int o = 6 * i + 3 * a;
                wts[o] = d1 * d2 / 2.0;       // (t - t1)(t - t2) / ((t0 - t1)(t0 - t2)) = / ((-1)(-2))
                wts[o + 1] = -d0 * d2;        // / ((1)(-1))
                wts[o + 2] = d0 * d1 / 2.0;   // / ((2)(1))
                cell[2 * i + a] = box * NodesPerBox;
            }
        // spread the charges (fixed order)
        var charges = new double[4 * m * m];
        int mm = m * m;
        for (int i = 0; i < n; i++)
        {
            double yx = y[2 * i], yy = y[2 * i + 1];
            double c1 = 1, c2 = yx, c3 = yy, c4 = yx * yx + yy * yy;
            int bx = cell[2 * i], by = cell[2 * i + 1];
            for (int k = 0; k < 3; k++)
                for (int l = 0; l < 3; l++)
                {
                    double w = wts[6 * i + k] * wts[6 * i + 3 + l];
                    int g = (bx + k) * m + by + l;
                    charges[g] += w * c1; charges[mm + g] += w * c2; charges[2 * mm + g] += w * c3; charges[3 * mm + g] += w * c4;
                }
        }
        // kernel (1 + d^2)^-2 on the circulant 2M x 2M grid
        int m2 = 2 * m;
        var kern = new double[m2 * m2];
        for (int a = 0; a < m2; a++)
        {
            double da = (a < m ? a : a - m2) * h;
            for (int b = 0; b < m2; b++)
            {
                double db = (b < m ? b : b - m2) * h;
                double q = 1.0 / (1.0 + da * da + db * db);
                kern[a * m2 + b] = q * q;
            }
        }
        using var scope = NewDisposeScope();
        var kt = fft.rfft2(tensor(kern, new long[] { m2, m2 }));
        var ct = zeros(new long[] { 4, m2, m2 }, ScalarType.Float64);
        ct.narrow(1, 0, m).narrow(2, 0, m).copy_(tensor(charges, new long[] { 4, m, m }));
        var conv = fft.irfft2(fft.rfft2(ct).mul_(kt.unsqueeze(0)), s: new long[] { m2, m2 });
        pot = conv.narrow(1, 0, m).narrow(2, 0, m).contiguous().data<double>().ToArray();
    }

    /// <summary>Repulsion sums for point i: sum_j q_ij^2 (y_i - y_j) and sum_{j != i} q_ij.</summary>
    public void PointTerms(double[] y, int i, out double rx, out double ry, out double z)
    {
        int mm = m * m;
        int bx = cell[2 * i], by = cell[2 * i + 1];
        double p1 = 0, p2 = 0, p3 = 0, p4 = 0;
        for (int k = 0; k < 3; k++)
            for (int l = 0; l < 3; l++)
            {
                double w = wts[6 * i + k] * wts[6 * i + 3 + l];
                int g = (bx + k) * m + by + l;
                p1 += w * pot[g]; p2 += w * pot[mm + g]; p3 += w * pot[2 * mm + g]; p4 += w * pot[3 * mm + g];
            }
        double yx = y[2 * i], yy = y[2 * i + 1];
        z = (1 + yx * yx + yy * yy) * p1 - 2 * (yx * p2 + yy * p3) + p4 - 1; // minus the self term q_ii = 1
        rx = yx * p1 - p2;
        ry = yy * p1 - p3;
    }
}
