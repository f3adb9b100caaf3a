namespace Probe.Similarity;

/// <summary>
/// Similarity measures between two representations X (n x p) and Y (n x q) of the same n samples, as pure functions
/// accumulated in float64 (the large products and SVDs run in libtorch's float64). Unless stated, columns are centred
/// first. Each function checks its inputs (finite, non-empty, same rows) and throws a <see cref="ProbeException"/>
/// for an undefined case (a constant matrix, a constant row for RSA) rather than returning NaN. The surveys these
/// definitions follow: Kornblith et al. 2019 (Table 2), Ding et al. 2021, Klabunde et al. 2023.
/// <para>
/// Canonical correlations, used by several measures: the singular values of Qx' Qy, where Qx and Qy are orthonormal
/// bases of the centred column spaces (thin SVD, dropping singular values at or below s_max * max(n, p) * eps64,
/// NumPy's rank tolerance), clipped to [0, 1]. There are min(rank X, rank Y) of them.
/// </para>
/// </summary>
public static class SimilarityMath
{
    /// <summary>The canonical correlations of X and Y, descending (see the class remarks).</summary>
    public static double[] CanonicalCorrelations(Matrix x, Matrix y)
    {
        var m = new MeanCcaMeasure();
        m.CheckPair(x, y, "the first matrix", "the second matrix");
        return CcaCore.Correlations(CcaCore.Prepare(x, "the first matrix"), CcaCore.Prepare(y, "the second matrix"));
    }

    /// <summary>
    /// Mean CCA: the mean of all canonical correlations, (1/m) sum_i rho_i, m = min(rank X, rank Y)
    /// (Kornblith et al. 2019, "mean CCA" rho-bar; Raghu et al. 2017). Symmetric, in [0, 1], invariant to any
    /// invertible linear map of either side.
    /// </summary>
    public static double MeanCca(Matrix x, Matrix y) => new MeanCcaMeasure().Value(x, y);

    /// <summary>
    /// SVCCA (Raghu et al. 2017): each side is reduced to its top-k principal directions, U_k S_k from the thin SVD of
    /// the centred matrix, with k the smallest count whose cumulative squared singular values reach
    /// <paramref name="keep"/> of the total (0.99 in the paper and in Google's svcca code); the score is the mean
    /// canonical correlation of the two reduced matrices. Symmetric, in [0, 1].
    /// </summary>
    public static double Svcca(Matrix x, Matrix y, double keep = SvccaMeasure.DefaultKeep) => new SvccaMeasure(keep).Value(x, y);

    /// <summary>
    /// Projection-weighted CCA (Morcos et al. 2018): PWCCA = sum_i alpha_i rho_i / sum_i alpha_i over the canonical
    /// correlations rho_i, with weights from the side with fewer columns (X when p = q): its canonical variates
    /// h_i = Qx U_i (U from the SVD of Qx' Qy; orthonormal) and alpha_i = sum_j |&lt;h_i, x_j&gt;| over its centred
    /// columns x_j. Morcos et al.'s code weights with the uncentred activations; this follows issue 15's definition
    /// (centred), which is invariant to a shift of the data. In [0, 1]; symmetric except when p = q.
    /// </summary>
    public static double Pwcca(Matrix x, Matrix y) => new PwccaMeasure().Value(x, y);

    /// <summary>
    /// Procrustes similarity (Ding et al. 2021; Williams et al. 2021): centre, scale each matrix to unit Frobenius norm
    /// (X~, Y~); s = ||X~' Y~||_* (nuclear norm) = the largest &lt;X~ R, Y~&gt; over orthogonal R, in [0, 1]. The
    /// Procrustes distance is sqrt(2 - 2s) (the smallest ||X~ R - Y~||_F) and the angular distance arccos(s)
    /// (netrep's angular shape metric). Symmetric; invariant to orthogonal maps and isotropic scaling of either side.
    /// </summary>
    public static (double Similarity, double Distance, double Angular) Procrustes(Matrix x, Matrix y)
    {
        var d = new ProcrustesMeasure().Compute(x, y).Details;
        return (d["similarity"], d["distance"], d["angular"]);
    }

    /// <summary>
    /// Mutual k-NN alignment (Huh et al. 2024, "The Platonic Representation Hypothesis"): rows are L2-normalised (no
    /// centring; a zero row stays zero, as with PyTorch's F.normalize in platonic-rep); each row's k nearest rows are
    /// those with the largest inner product, the row itself excluded, ties to the lower index; the score is the mean
    /// over rows of |N_X(i) ∩ N_Y(i)| / k. Symmetric, in [0, 1]; invariant to rotations and scaling of either side,
    /// not to non-uniform column scaling. Neighbours are found block by block, without an n x n matrix.
    /// </summary>
    public static double MutualKnn(Matrix x, Matrix y, int k = MutualKnnMeasure.DefaultK) => new MutualKnnMeasure(k).Value(x, y);

    /// <summary>
    /// Representational similarity analysis (Kriegeskorte et al. 2008): each side's representational dissimilarity
    /// matrix RDM_ij = 1 - Pearson correlation of rows i and j (each row centred and normalised; no column centring);
    /// the score is the Spearman correlation (average ranks for ties) between the strict upper triangles of the two
    /// RDMs. RDM entries are compared on a grid of 2^-40 so that entries equal in exact arithmetic tie however the
    /// products were rounded (ReLU layers produce many such ties). Symmetric, in [-1, 1]. A constant row has no correlation and is refused. Memory: n(n - 1)/2 doubles per side.
    /// </summary>
    public static double Rsa(Matrix x, Matrix y) => new RsaMeasure().Value(x, y);

    /// <summary>
    /// Linear-regression R^2 of Y from X (Kornblith et al. 2019, R^2_LR): the least-squares fit of Y's centred columns
    /// from X's, summed over Y's columns: ||Qx' Yc||_F^2 / ||Yc||_F^2. Asymmetric (how much of Y is a linear function
    /// of X), in [0, 1], invariant to invertible linear maps of X and orthogonal maps and scaling of Y.
    /// </summary>
    public static double LinearRegression(Matrix x, Matrix y) => new LinearRegressionMeasure().Value(x, y);

    /// <summary>
    /// Linear CKA (Kornblith et al. 2019): ||Yc' Xc||_F^2 / (||Xc' Xc||_F ||Yc' Yc||_F); see <see cref="Cka"/> for
    /// the RBF and debiased estimators.
    /// </summary>
    public static double LinearCka(Matrix x, Matrix y) => new CkaMeasure().Value(x, y);
}
