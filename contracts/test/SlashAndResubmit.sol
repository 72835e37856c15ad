// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice An attacker's contract (tests/adversarial): in one transaction it ends its own sybil game against its
/// lying result (a timeout), releases the games the slash made moot, and posts a new result, so that the request
/// would never be Open between two transactions. The Coordinator must refuse the resubmission.
interface IAttackedGame {
    function claimTimeout(uint256 gameId) external;
}

interface IAttackedCoordinator {
    function releaseGame(uint256 gameId) external;
    function submit(uint256 requestId, bytes calldata output, bytes32 traceCommitment)
        external
        payable
        returns (uint256 submissionId);
}

contract SlashAndResubmit {
    function attack(
        IAttackedGame game,
        IAttackedCoordinator coordinator,
        uint256 sybilGame,
        uint256[] calldata mootGames,
        uint256 requestId,
        bytes calldata output,
        bytes32 traceCommitment
    ) external payable returns (uint256 submissionId) {
        game.claimTimeout(sybilGame);
        for (uint256 i = 0; i < mootGames.length; i++) {
            coordinator.releaseGame(mootGames[i]);
        }
        submissionId = coordinator.submit{value: msg.value}(requestId, output, traceCommitment);
    }
}
