// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ICommitment} from "./interfaces/ICommitment.sol";
import {ICoordinator} from "./interfaces/ICoordinator.sol";
import {GameSpec, IDisputeGame, UnknownGame} from "./interfaces/IDisputeGame.sol";
import {IGameResolver} from "./interfaces/IGameResolver.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {IOpmlConsumer} from "./interfaces/IOpmlConsumer.sol";

/// @title Coordinator
/// @notice Inference requests, optimistic results, bonds, the challenge window, disputes and finalization with
/// a callback to the requester (docs/game.md); an Open request past its deadline can be cancelled by its
/// requester for a refund of the fee. Payouts and refunds are credits withdrawn with `withdraw()`.
/// Inputs and outputs have the model's exact registered sizes; a callback is only ever the requester itself; a
/// slashed bond is mostly burned and the rest shared equally by every challenger of the slashed result.
/// @dev Invariant (conservation): this contract's balance always equals the sum of the credits not yet withdrawn
/// plus the fees and bonds still at stake (open requests' fees, pending submissions' bonds, open games' challenger
/// bonds and the slash reward shares owed to moot games); every payout moves value between those terms, except the
/// burned share, which leaves at once.
contract Coordinator is ICoordinator, IGameResolver {
    enum RequestStatus {
        None,
        Open,
        Submitted,
        Finalized,
        Cancelled
    }

    enum SubmissionStatus {
        None,
        Pending,
        Slashed,
        Finalized
    }

    /// @notice A request, as `getRequest` returns it. `createdAt` shares the requester's slot (no extra storage
    /// write per request).
    struct Request {
        address requester;
        uint64 createdAt;
        uint256 modelId;
        uint256 fee;
        bytes32 inputCommitment;
        bytes32 anchor;
        address callback;
        uint64 callbackGasLimit;
        RequestStatus status;
        uint256 activeSubmission;
        bool callbackFailed;
    }

    struct Submission {
        uint256 requestId;
        address submitter;
        bytes32 outputCommitment;
        bytes32 traceCommitment;
        uint64 windowEnd;
        uint32 openGames;
        SubmissionStatus status;
        bytes output;
    }

    struct Challenge {
        uint256 submissionId;
        address challenger;
        bool settled;
    }

    /// @notice A slashed submission: the block of the slash and what each of its challengers is paid on top of
    /// its own bond (the winner at once, every game the slash made moot when it ends).
    struct Slash {
        uint64 slashedBlock;
        uint32 claimants;
        uint256 rewardShare;
    }

    event RequestCreated(
        uint256 indexed requestId,
        uint256 indexed modelId,
        address indexed requester,
        uint256 fee,
        bytes32 inputCommitment,
        bytes32 anchor,
        address callback,
        uint64 callbackGasLimit,
        bytes input
    );
    event ResultSubmitted(
        uint256 indexed requestId,
        uint256 indexed submissionId,
        address indexed submitter,
        bytes32 outputCommitment,
        bytes32 traceCommitment,
        uint64 windowEnd,
        bytes output
    );
    event Challenged(
        uint256 indexed requestId, uint256 indexed submissionId, uint256 indexed gameId, address challenger
    );
    event GameSettled(uint256 indexed gameId, bool submitterWon, bool moot);
    event GameReleased(uint256 indexed gameId);
    event Slashed(
        uint256 indexed requestId, uint256 indexed submissionId, address indexed submitter, address challenger
    );
    event Finalized(
        uint256 indexed requestId, uint256 indexed submissionId, address indexed submitter, bytes32 outputCommitment
    );
    event RequestCancelled(uint256 indexed requestId, address indexed requester, uint256 refund);
    event CallbackResult(uint256 indexed requestId, address callback, bool success);
    event Burned(uint256 amount);
    event SlashShared(uint256 indexed submissionId, uint256 claimants, uint256 rewardShare, uint256 burned);
    event Withdrawn(address indexed account, uint256 amount);

    /// @dev Gas kept back around the callback: the call itself and the bookkeeping after it.
    uint256 private constant CALLBACK_RESERVE = 50_000;
    /// @dev Gas given to the burn transfer (an EOA or a simple sink).
    uint256 private constant BURN_GAS = 30_000;
    uint16 private constant BPS = 10_000;
    /// @notice Share of a slashed submitter bond paid to the slashed result's challengers, in basis points; the
    /// rest is burned, so a liar and all its sybil challengers together lose at least 80% of the bond.
    uint16 public constant SLASH_REWARD_BPS = 2_000;

    IModelRegistry public immutable registry;
    IDisputeGame public immutable game;
    ICommitment public immutable commitment;
    uint256 public immutable submitterBond;
    uint256 public immutable challengerBond;
    uint64 public immutable challengeWindow;
    uint16 public immutable burnBps;
    address public immutable burnAddress;
    uint64 public immutable maxCallbackGas;
    uint256 public immutable maxInputBytes;
    /// @notice Seconds after its creation from which an Open request may be cancelled by its requester.
    uint64 public immutable requestTimeout;
    /// @notice Whether every model must have registered sizes (`UnsizedModel` otherwise): true where the
    /// commitment does not bind the length itself (tensor commitments are zero padded).
    bool public immutable requireSizes;

    uint256 public requestCount;
    uint256 public submissionCount;
    uint256 public totalBurned;
    mapping(address account => uint256 amount) public balanceOf;
    mapping(uint256 requestId => Request) private _requests;
    mapping(uint256 submissionId => Submission) private _submissions;
    mapping(uint256 gameId => Challenge) private _challenges;
    mapping(uint256 submissionId => Slash) private _slashes;
    /// @notice The request's last slashed submission (0 if none): a new result waits until its games have ended.
    mapping(uint256 requestId => uint256 submissionId) public lastSlashed;

    /// @notice The burn share is over 100%.
    error BadBurnBps(uint16 burnBps);
    /// @notice Requests could never be cancelled (a zero timeout).
    error BadRequestTimeout(uint64 requestTimeout);

    constructor(
        IModelRegistry registry_,
        IDisputeGame game_,
        ICommitment commitment_,
        uint256 submitterBond_,
        uint256 challengerBond_,
        uint64 challengeWindow_,
        uint16 burnBps_,
        address burnAddress_,
        uint64 maxCallbackGas_,
        uint256 maxInputBytes_,
        uint64 requestTimeout_,
        bool requireSizes_
    ) {
        registry = registry_;
        game = game_;
        commitment = commitment_;
        submitterBond = submitterBond_;
        challengerBond = challengerBond_;
        challengeWindow = challengeWindow_;
        if (burnBps_ > BPS) revert BadBurnBps(burnBps_);
        burnBps = burnBps_;
        burnAddress = burnAddress_;
        maxCallbackGas = maxCallbackGas_;
        maxInputBytes = maxInputBytes_;
        if (requestTimeout_ == 0) revert BadRequestTimeout(requestTimeout_);
        requestTimeout = requestTimeout_;
        requireSizes = requireSizes_;
    }

    // ------------------------------------------------------------------------------------------------ requester

    /// @notice The input is longer than `maxInputBytes`.
    error InputTooLarge(uint256 size, uint256 max);
    /// @notice The callback's gas limit is over `maxCallbackGas`.
    error CallbackGasTooHigh(uint256 limit, uint256 max);
    /// @notice A callback other than the requester itself (results go only to a contract that asked).
    error CallbackNotRequester(address callback, address requester);

    /// @inheritdoc ICoordinator
    function request(uint256 modelId, bytes calldata input, address callback, uint64 callbackGasLimit)
        external
        payable
        returns (uint256 requestId)
    {
        if (input.length > maxInputBytes) revert InputTooLarge(input.length, maxInputBytes);
        if (callbackGasLimit > maxCallbackGas) revert CallbackGasTooHigh(callbackGasLimit, maxCallbackGas);
        if (callback != address(0) && callback != msg.sender) revert CallbackNotRequester(callback, msg.sender);
        (bytes32 inputCommitment, bytes32 anchor) = _anchor(modelId, input);
        requestId = ++requestCount;
        Request storage r = _requests[requestId];
        r.requester = msg.sender;
        r.modelId = modelId;
        r.fee = msg.value;
        r.inputCommitment = inputCommitment;
        r.anchor = anchor;
        r.callback = callback;
        r.callbackGasLimit = callbackGasLimit;
        r.status = RequestStatus.Open;
        r.createdAt = uint64(block.timestamp);
        emit RequestCreated(
            requestId, modelId, msg.sender, msg.value, inputCommitment, anchor, callback, callbackGasLimit, input
        );
    }

    /// @notice Only the requester may cancel its request.
    error NotRequester(address caller);
    /// @notice The request is not Open (a result is pending, or it is over).
    error RequestNotOpen(RequestStatus status);
    /// @notice The request may be cancelled from `deadline` on.
    error RequestNotExpired(uint256 deadline);

    /// @inheritdoc ICoordinator
    function cancelRequest(uint256 requestId) external {
        Request storage r = _request(requestId);
        if (msg.sender != r.requester) revert NotRequester(msg.sender);
        if (r.status != RequestStatus.Open) revert RequestNotOpen(r.status);
        uint256 deadline = _deadline(r);
        if (block.timestamp < deadline) revert RequestNotExpired(deadline);
        r.status = RequestStatus.Cancelled;
        _credit(r.requester, r.fee);
        emit RequestCancelled(requestId, r.requester, r.fee);
    }

    // ------------------------------------------------------------------------------------------------ submitter

    /// @notice The request already has a pending result.
    error AlreadySubmitted(uint256 requestId, uint256 submissionId);
    /// @notice The bond sent is not the required one (submitter or challenger bond).
    error BondWrong(uint256 required, uint256 sent);
    /// @notice The output is not exactly the model's `outputBytes`.
    error OutputSizeMismatch(uint256 expected, uint256 got);

    /// @notice Posts a result (the output bytes and the level-0 trace end root) with the submitter bond; opens
    /// the challenge window.
    function submit(uint256 requestId, bytes calldata output, bytes32 traceCommitment)
        external
        payable
        returns (uint256 submissionId)
    {
        Request storage r = _request(requestId);
        _notOver(r, requestId);
        if (r.status == RequestStatus.Submitted) revert AlreadySubmitted(requestId, r.activeSubmission);
        if (msg.value != submitterBond) revert BondWrong(submitterBond, msg.value);
        (, uint32 outputBytes) = registry.modelSizes(r.modelId);
        if (outputBytes != 0 && output.length != outputBytes) revert OutputSizeMismatch(outputBytes, output.length);
        _afterSlash(requestId);
        submissionId = ++submissionCount;
        Submission storage s = _submissions[submissionId];
        s.requestId = requestId;
        s.submitter = msg.sender;
        s.outputCommitment = commitment.commitOutput(r.modelId, output);
        s.traceCommitment = traceCommitment;
        s.windowEnd = uint64(block.timestamp) + challengeWindow;
        s.status = SubmissionStatus.Pending;
        s.output = output;
        r.status = RequestStatus.Submitted;
        r.activeSubmission = submissionId;
        emit ResultSubmitted(
            requestId, submissionId, msg.sender, s.outputCommitment, traceCommitment, s.windowEnd, output
        );
    }

    // ----------------------------------------------------------------------------------------------- challenger

    /// @notice The challenge window ended at `windowEnd`.
    error WindowClosed(uint256 windowEnd);
    /// @notice A submitter cannot challenge its own result.
    error SelfChallenge();

    /// @notice Disputes the active result of `requestId` with the challenger bond; opens a game.
    function challenge(uint256 requestId) external payable returns (uint256 gameId) {
        (Request storage r, Submission storage s) = _pending(requestId);
        if (block.timestamp >= s.windowEnd) revert WindowClosed(s.windowEnd);
        if (msg.sender == s.submitter) revert SelfChallenge();
        if (msg.value != challengerBond) revert BondWrong(challengerBond, msg.value);
        uint256 submissionId = r.activeSubmission;
        gameId = game.createGame(
            GameSpec(requestId, submissionId, s.submitter, msg.sender, r.anchor, s.outputCommitment, s.traceCommitment)
        );
        _challenges[gameId] = Challenge(submissionId, msg.sender, false);
        s.openGames += 1;
        emit Challenged(requestId, submissionId, gameId, msg.sender);
    }

    // --------------------------------------------------------------------------------------------------- anyone

    /// @notice The challenge window is open until `windowEnd`.
    error WindowOpen(uint256 windowEnd);
    /// @notice Games on the result are still open.
    error GamesPending(uint256 openGames);

    /// @notice Makes the active result final once its window has passed and no game is open: pays the
    /// submitter (fee + bond back) and delivers the output to the requester's callback (bounded gas; a failing
    /// callback is recorded, never blocking).
    function finalize(uint256 requestId) external {
        (Request storage r, Submission storage s) = _pending(requestId);
        if (block.timestamp < s.windowEnd) revert WindowOpen(s.windowEnd);
        if (s.openGames != 0) revert GamesPending(s.openGames);
        r.status = RequestStatus.Finalized;
        s.status = SubmissionStatus.Finalized;
        _credit(s.submitter, r.fee + submitterBond);
        emit Finalized(requestId, r.activeSubmission, s.submitter, s.outputCommitment);
        if (r.callback != address(0)) _deliver(requestId, r, s.output);
    }

    /// @notice The game's submission was not slashed, so the game is not moot.
    error GameNotMoot(uint256 gameId);
    /// @notice The game's challenge was already settled (resolved or released).
    error ChallengeSettled(uint256 gameId);

    /// @notice Ends a game whose submission was already slashed by another game; returns the challenger's bond.
    function releaseGame(uint256 gameId) external {
        Challenge storage c = _challenges[gameId];
        if (c.challenger == address(0)) revert UnknownGame(gameId);
        if (c.settled) revert ChallengeSettled(gameId);
        Submission storage s = _submissions[c.submissionId];
        if (s.status != SubmissionStatus.Slashed) revert GameNotMoot(gameId);
        c.settled = true;
        game.cancelGame(gameId);
        _endMootGame(s, c);
        emit GameReleased(gameId);
    }

    /// @notice The sender has no credit.
    error NothingToWithdraw();
    /// @notice The transfer of the credit failed.
    error WithdrawFailed();

    /// @notice Pays out the sender's credit.
    function withdraw() external {
        uint256 amount = balanceOf[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        balanceOf[msg.sender] = 0;
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert WithdrawFailed();
        emit Withdrawn(msg.sender, amount);
    }

    // ------------------------------------------------------------------------------------------------------ game

    /// @notice Only the DisputeGame reports game results.
    error NotGame(address caller);

    /// @inheritdoc IGameResolver
    function onGameResolved(uint256 gameId, bool submitterWon) external {
        if (msg.sender != address(game)) revert NotGame(msg.sender);
        Challenge storage c = _challenges[gameId];
        if (c.settled) revert ChallengeSettled(gameId);
        c.settled = true;
        Submission storage s = _submissions[c.submissionId];
        if (s.status != SubmissionStatus.Pending) {
            _endMootGame(s, c);
            emit GameSettled(gameId, submitterWon, true);
            return;
        }
        s.openGames -= 1;
        if (submitterWon) {
            _payWinner(s.submitter, challengerBond);
        } else {
            _slash(s, c);
        }
        emit GameSettled(gameId, submitterWon, false);
    }

    // ---------------------------------------------------------------------------------------------------- views

    function getRequest(uint256 requestId) external view returns (Request memory) {
        return _requests[requestId];
    }

    /// @notice The time from which the requester may cancel `requestId` while it is Open (createdAt +
    /// requestTimeout); 0 for an unknown request.
    function deadlineOf(uint256 requestId) external view returns (uint256) {
        Request storage r = _requests[requestId];
        return r.status == RequestStatus.None ? 0 : _deadline(r);
    }

    function getSubmission(uint256 submissionId) external view returns (Submission memory) {
        return _submissions[submissionId];
    }

    function getChallenge(uint256 gameId) external view returns (Challenge memory) {
        return _challenges[gameId];
    }

    /// @notice The slash of `submissionId` (all zero if it was not slashed).
    function getSlash(uint256 submissionId) external view returns (Slash memory) {
        return _slashes[submissionId];
    }

    // ------------------------------------------------------------------------------------------------- internal

    /// @notice The registry's error for a model id never registered (it reaches the requester through `request`).
    error UnknownModel(uint256 modelId);
    /// @notice The fee sent is below the model's fee.
    error FeeTooLow(uint256 required, uint256 sent);
    /// @notice The model has no registered sizes while `requireSizes` holds.
    error UnsizedModel(uint256 modelId);
    /// @notice The input is not exactly the model's `inputBytes`.
    error InputSizeMismatch(uint256 expected, uint256 got);

    /// @dev The input commitment and the anchor keccak256(abi.encode(graphRoot, constantsRoot, kernelSetRoot,
    /// inputCommitment)) every dispute on the request starts from; checks the fee against the model's.
    function _anchor(uint256 modelId, bytes calldata input)
        private
        view
        returns (bytes32 inputCommitment, bytes32 anchor)
    {
        (bytes32 graphRoot, bytes32 constantsRoot, bytes32 kernelSetRoot, uint256 fee) = registry.modelRoots(modelId);
        if (msg.value < fee) revert FeeTooLow(fee, msg.value);
        (uint32 inputBytes,) = registry.modelSizes(modelId);
        if (inputBytes == 0) {
            if (requireSizes) revert UnsizedModel(modelId);
        } else if (input.length != inputBytes) {
            revert InputSizeMismatch(inputBytes, input.length);
        }
        inputCommitment = commitment.commitInput(modelId, input);
        anchor = keccak256(abi.encode(graphRoot, constantsRoot, kernelSetRoot, inputCommitment));
    }

    /// @notice No request has id `requestId`.
    error UnknownRequest(uint256 requestId);

    function _request(uint256 requestId) private view returns (Request storage r) {
        r = _requests[requestId];
        if (r.status == RequestStatus.None) revert UnknownRequest(requestId);
    }

    /// @notice The request is finalized.
    error AlreadyFinalized(uint256 requestId);
    /// @notice The request was cancelled.
    error AlreadyCancelled(uint256 requestId);

    /// @dev Reverts for a request that is over: finalized or cancelled.
    function _notOver(Request storage r, uint256 requestId) private view {
        if (r.status == RequestStatus.Finalized) revert AlreadyFinalized(requestId);
        if (r.status == RequestStatus.Cancelled) revert AlreadyCancelled(requestId);
    }

    function _deadline(Request storage r) private view returns (uint256) {
        return uint256(r.createdAt) + requestTimeout;
    }

    /// @notice The request has no pending result.
    error NoActiveSubmission(uint256 requestId);

    /// @dev The request and its pending submission, for challenge and finalize.
    function _pending(uint256 requestId) private view returns (Request storage r, Submission storage s) {
        r = _request(requestId);
        _notOver(r, requestId);
        if (r.status != RequestStatus.Submitted) revert NoActiveSubmission(requestId);
        s = _submissions[r.activeSubmission];
    }

    /// @notice A new result cannot be posted in the transaction that slashed the last one.
    error ResubmitInSlashTransaction(uint256 requestId);
    /// @notice Games on the request's slashed submission are still open.
    error SlashedGamesOpen(uint256 submissionId, uint256 openGames);

    /// @dev A result may follow a slashed one only once every game on the slashed one has ended (moot games can
    /// be released by anyone at once), and never in the transaction that slashed it (a transient mark).
    function _afterSlash(uint256 requestId) private view {
        uint256 slashed = lastSlashed[requestId];
        if (slashed == 0) return;
        bytes32 mark = _slashMark(requestId);
        uint256 slashedNow;
        assembly ("memory-safe") {
            slashedNow := tload(mark)
        }
        if (slashedNow != 0) revert ResubmitInSlashTransaction(requestId);
        uint32 open = _submissions[slashed].openGames;
        if (open != 0) revert SlashedGamesOpen(slashed, open);
    }

    /// @dev The submitter lost a game: the request reopens and the submission's other games become moot. Of its
    /// bond, SLASH_REWARD_BPS is shared equally by the winner and every moot game's challenger (the claimants,
    /// fixed now: no game can be added to a slashed result), the rest is burned; each claimant also gets its own
    /// bond back — the winner at once, the others when their games end.
    function _slash(Submission storage s, Challenge storage c) private {
        s.status = SubmissionStatus.Slashed;
        Request storage r = _requests[s.requestId];
        r.status = RequestStatus.Open;
        r.activeSubmission = 0;
        uint256 claimants = uint256(s.openGames) + 1;
        uint256 share = (submitterBond * SLASH_REWARD_BPS) / BPS / claimants;
        uint256 burned = submitterBond - share * claimants;
        _slashes[c.submissionId] = Slash(uint64(block.number), uint32(claimants), share);
        lastSlashed[s.requestId] = c.submissionId;
        bytes32 mark = _slashMark(s.requestId);
        assembly ("memory-safe") {
            tstore(mark, 1)
        }
        _credit(c.challenger, challengerBond + share);
        _burn(burned);
        emit Slashed(s.requestId, c.submissionId, s.submitter, c.challenger);
        emit SlashShared(c.submissionId, claimants, share, burned);
    }

    /// @dev The transient-storage slot marking `requestId` as slashed in the current transaction.
    function _slashMark(uint256 requestId) private pure returns (bytes32) {
        return keccak256(abi.encode("opml.slashed", requestId));
    }

    /// @dev A game on a slashed submission ended (resolved or released): its challenger's bond and reward share.
    function _endMootGame(Submission storage s, Challenge storage c) private {
        s.openGames -= 1;
        _credit(c.challenger, challengerBond + _slashes[c.submissionId].rewardShare);
    }

    /// @dev Pays a loser's bond to the winner, burning `burnBps` of it.
    function _payWinner(address winner, uint256 bond) private {
        uint256 burned = (bond * burnBps) / BPS;
        _credit(winner, bond - burned);
        _burn(burned);
    }

    /// @dev Sends `amount` to the burn address (credited to it if the transfer fails).
    function _burn(uint256 amount) private {
        if (amount == 0) return;
        totalBurned += amount;
        emit Burned(amount);
        (bool ok,) = burnAddress.call{value: amount, gas: BURN_GAS}("");
        if (!ok) _credit(burnAddress, amount);
    }

    function _credit(address account, uint256 amount) private {
        balanceOf[account] += amount;
    }

    /// @notice The finalizer forwarded too little gas for the callback to get its full limit.
    error InsufficientGasForCallback();

    /// @dev Calls the callback with exactly its gas limit; neither a revert nor running out of gas propagates.
    function _deliver(uint256 requestId, Request storage r, bytes storage output) private {
        address target = r.callback;
        uint256 gasLimit = r.callbackGasLimit;
        // The caller must forward enough gas that the callback really gets `gasLimit` (EIP-150 keeps 1/64).
        if (gasleft() < gasLimit + gasLimit / 63 + CALLBACK_RESERVE) revert InsufficientGasForCallback();
        bytes memory data = abi.encodeCall(IOpmlConsumer.onOpmlResult, (requestId, output));
        bool ok;
        if (target.code.length > 0) {
            assembly ("memory-safe") {
                ok := call(gasLimit, target, 0, add(data, 32), mload(data), 0, 0)
            }
        }
        if (!ok) r.callbackFailed = true;
        emit CallbackResult(requestId, target, ok);
    }
}
